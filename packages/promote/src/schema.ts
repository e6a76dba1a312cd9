import { z } from "@hono/zod-openapi";

/** Weights of a route's upstreams, integer percent summing to 100. */
const WeightsSchema = z
  .record(z.string(), z.number().int())
  .openapi({ example: { monolith: 75, "reference-data": 25 } });

export const ThresholdResultSchema = z
  .object({
    key: z.string().openapi({ example: "http_req_duration" }),
    expression: z.string().openapi({ example: "p(95)<500" }),
    ok: z.boolean().openapi({ description: "Passed on data" }),
    inconclusive: z.boolean().openapi({ description: "No samples: neither pass nor fail" }),
    value: z.number().nullable().openapi({ description: "The measured left-hand side", example: 41.2 }),
    samples: z.number().int(),
  })
  .openapi("PromotionThresholdResult");

/** The headline numbers of one measurement: p95 (ms), error rate (0..1), request count. */
export const NumbersSchema = z
  .object({
    p95: z
      .number()
      .nullable()
      .openapi({ description: "p95 latency in ms; null without requests", example: 38.5 }),
    errorRate: z
      .number()
      .nullable()
      .openapi({ description: "Failed share (0..1); null without requests", example: 0 }),
    requests: z.number().int().openapi({ example: 812 }),
  })
  .openapi("PromotionNumbers");

export const GateMeasurementSchema = z
  .object({
    script: z.string().openapi({ example: "loadtests/reference-data.js" }),
    engine: z.enum(["builtin", "k6"]),
    verdict: z.enum(["pass", "fail", "inconclusive"]),
    pin: z.string().nullable().openapi({ description: "The upstream the gate was pinned to (x-fig-route)" }),
    numbers: NumbersSchema,
    thresholds: z.array(ThresholdResultSchema),
    refusals: z
      .array(z.string())
      .optional()
      .openapi({
        description: "Request names refused (401/403) all or mostly, in plain words",
        example: [
          "every upload-file request was refused 403 (Requires role editor or higher; the token has gate)",
        ],
      }),
    /** The k6 --summary-export JSON (with Fig's `fig` section), as the engine wrote it. */
    summary: z.unknown().openapi({ description: "k6 --summary-export JSON of the run" }),
  })
  .openapi("PromotionGateMeasurement");

export const GatewayMeasurementSchema = z
  .object({
    upstream: z.string().openapi({ example: "reference-data" }),
    from: z
      .string()
      .openapi({ description: "Window start (first reading of the gateway's counters of the route)" }),
    to: z.string().openapi({ description: "Window end (second reading)" }),
    numbers: NumbersSchema,
    errors: z.number().int().openapi({ description: "5xx answers plus connection errors and timeouts" }),
    thresholds: z.array(ThresholdResultSchema).openapi({
      description:
        "The gate script's http_req_duration / http_req_failed budgets held to the gateway's numbers",
    }),
    note: z.string().openapi({ example: "p95 interpolated from the gateway's histogram buckets" }),
    processes: z
      .object({ of: z.number().int(), answered: z.number().int() })
      .nullable()
      .optional()
      .openapi({
        description:
          "Of the gateway processes sharing its port (FIG_GATEWAY_PROCESSES), how many the numbers cover (in both readings); null: read from an older gateway's /metrics",
        example: { of: 2, answered: 2 },
      }),
    partial: z.string().nullable().optional().openapi({
      description:
        "Why the numbers are not the whole gateway's (a process did not answer a reading): such a window never passes a step",
      example: null,
    }),
  })
  .openapi("PromotionGatewayMeasurement");

export const ShadowMeasurementSchema = z
  .object({
    compared: z.number().int(),
    mismatches: z.number().int(),
    noiseOnly: z.number().int(),
    candidateErrors: z.number().int(),
    mismatchRate: z.number().nullable(),
    budget: z
      .number()
      .openapi({ description: "Largest mismatch rate that lets the promotion start", example: 0.01 }),
    noiseFields: z.array(z.string()),
    /** A few recent diffs (field path, primary value, candidate value), shown when the step fails. */
    samples: z.array(z.unknown()),
  })
  .openapi("PromotionShadowMeasurement");

export const VerdictSchema = z.enum(["pass", "fail", "inconclusive"]);

/** One decision: the numbers behind it, always. Step 0 is the shadow step. */
export const DecisionSchema = z
  .object({
    step: z.number().int().openapi({ description: "1..N; 0 is the shadow step", example: 2 }),
    of: z.number().int().openapi({ description: "Number of weight steps", example: 4 }),
    attempt: z
      .number()
      .int()
      .openapi({ description: "Measurement windows at this step (inconclusive ones hold)" }),
    weights: WeightsSchema,
    startedAt: z.string(),
    at: z.string(),
    verdict: VerdictSchema,
    reason: z.string().openapi({ example: "gate pass, gateway pass (812 candidate requests)" }),
    minRequests: z.number().int(),
    gate: GateMeasurementSchema.nullable(),
    gateway: GatewayMeasurementSchema.nullable(),
    shadow: ShadowMeasurementSchema.nullable(),
    actor: z.string().openapi({ description: "JWT sub of whoever ran the promotion", example: "alice" }),
  })
  .openapi("PromotionDecision");

export const PromotionEventSchema = z
  .object({
    at: z.string(),
    what: z.enum([
      "started",
      "weights",
      "paused",
      "resumed",
      "interrupted",
      "rollback",
      "promoted",
      "superseded",
      "flip-writes",
    ]),
    actor: z.string(),
    detail: z.string().nullable(),
    weights: WeightsSchema.optional(),
  })
  .openapi("PromotionEvent");

export const PromotionStateSchema = z.enum(["running", "paused", "promoted", "rolled-back", "superseded"]);

export const PromotionRecordSchema = z
  .object({
    id: z.string().openapi({ example: "m6x1k2a0-reference-data-3f9c" }),
    route: z.string().openapi({ example: "reference-data" }),
    candidate: z.string().openapi({ example: "reference-data" }),
    stable: z.string().openapi({ description: "Where traffic goes back on a rollback", example: "monolith" }),
    state: PromotionStateSchema,
    /** What other commands asked of the running process (pause, resume, rollback). */
    control: z.enum(["run", "pause", "abort"]),
    steps: z.array(z.number().int()).openapi({ example: [10, 25, 50, 100] }),
    step: z.number().int().openapi({ description: "Current step (1..N), 0 shadow, -1 not started" }),
    stepDurationMs: z.number().int(),
    minRequests: z.number().int(),
    inconclusiveDeadlineMs: z.number().int(),
    gate: z.object({
      script: z.string(),
      vus: z.number().int(),
      /** Who the gate ran as: the token's roles and tenant, minted from the route's declaration or given. */
      token: z
        .object({ roles: z.array(z.string()), tenant: z.string(), minted: z.boolean() })
        .optional()
        .openapi({ example: { roles: ["editor", "gate"], tenant: "fig", minted: true } }),
    }),
    shadow: z.object({ durationMs: z.number().int(), budget: z.number() }).nullable(),
    /** The weights the route holds as far as this promotion knows (after its last applied change). */
    weights: WeightsSchema,
    /** Written BEFORE a weights change and cleared after it: a crash in between leaves the truth here. */
    intent: z.object({ weights: WeightsSchema, at: z.string() }).nullable(),
    actor: z.string(),
    host: z.string(),
    pid: z.number().int(),
    startedAt: z.string(),
    updatedAt: z.string(),
    finishedAt: z.string().nullable(),
    reason: z
      .string()
      .nullable()
      .openapi({ example: "step 1 of 4: gateway http_req_failed rate<0.01 was 0.052" }),
    decisions: z.array(DecisionSchema),
    events: z.array(PromotionEventSchema),
  })
  .openapi("PromotionRecord");

export const LockSchema = z.object({
  promotionId: z.string(),
  actor: z.string(),
  host: z.string(),
  pid: z.number().int(),
  /** Renewed by the running process; a lock not renewed within `leaseMs` belongs to a dead process. */
  heartbeatAt: z.string(),
  leaseMs: z.number().int(),
});

/** A record as status, the CLI and GET /_fig/promotions show it: running ones whose process died are paused. */
export const PromotionViewSchema = PromotionRecordSchema.extend({
  effectiveState: PromotionStateSchema.openapi({
    description: "The state to believe: `paused` when the record says running but its process is gone",
  }),
  interrupted: z.boolean().openapi({ description: "The promote process stopped without recording an end" }),
  lock: z
    .object({ holder: z.string(), heartbeatAt: z.string(), stale: z.boolean() })
    .nullable()
    .openapi({ description: "Who holds the route's promotion lock" }),
}).openapi("PromotionView");

export const PromotionListSchema = z
  .object({ bucket: z.string(), promotions: z.array(PromotionViewSchema) })
  .openapi("PromotionList");

export type Weights = z.infer<typeof WeightsSchema>;
export type ThresholdResult = z.infer<typeof ThresholdResultSchema>;
export type Numbers = z.infer<typeof NumbersSchema>;
export type GateMeasurement = z.infer<typeof GateMeasurementSchema>;
export type GatewayMeasurement = z.infer<typeof GatewayMeasurementSchema>;
export type ShadowMeasurement = z.infer<typeof ShadowMeasurementSchema>;
export type Verdict = z.infer<typeof VerdictSchema>;
export type Decision = z.infer<typeof DecisionSchema>;
export type PromotionEvent = z.infer<typeof PromotionEventSchema>;
export type PromotionState = z.infer<typeof PromotionStateSchema>;
export type PromotionRecord = z.infer<typeof PromotionRecordSchema>;
export type Lock = z.infer<typeof LockSchema>;
export type PromotionView = z.infer<typeof PromotionViewSchema>;
