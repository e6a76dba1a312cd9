import { errorResponses, INT4_MAX, pgText } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";

const security = [{ bearerAuth: [] }];
const Id = z.object({
  id: z.uuid().openapi({ description: "Validation id", example: "5d3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d" }),
});
const Severity = z.enum(["error", "warning", "info"]);
const Status = z.enum(["queued", "processing", "completed", "failed"]);

export const ValidationSchema = z
  .object({
    validationId: z.uuid().openapi({ example: "5d3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d" }),
    fileId: z.uuid().openapi({ example: "0b6f1c9e-3f7a-4a59-9d2e-5f1a2b3c4d5e" }),
    status: Status.openapi({
      description: "queued → processing → completed | failed",
      example: "processing",
    }),
    progress: z.object({
      processedRows: z.number().int().openapi({ example: 120000 }),
      percent: z
        .number()
        .int()
        .min(0)
        .max(100)
        .openapi({ description: "Share of the file's bytes read", example: 42 }),
    }),
    rows: z
      .number()
      .int()
      .nullable()
      .openapi({ description: "Data rows in the file, once completed", example: 285000 }),
    counts: z.object({
      bySeverity: z
        .record(z.string(), z.number().int())
        .openapi({ example: { error: 120, warning: 14, info: 0 } }),
      byRule: z
        .record(z.string(), z.number().int())
        .openapi({ example: { "unknown-code": 40, "duplicate-line": 80 } }),
    }),
    failureReason: z.string().nullable().openapi({ description: "Why a failed run failed", example: null }),
    attempts: z
      .number()
      .int()
      .openapi({ description: "Times a worker started this run (more than 1 after a crash)", example: 1 }),
    timings: z.object({
      queuedAt: z.iso.datetime().openapi({ example: "2026-11-22T10:00:00.000Z" }),
      startedAt: z.iso.datetime().nullable().openapi({ example: "2026-11-22T10:00:00.120Z" }),
      finishedAt: z.iso.datetime().nullable().openapi({ example: null }),
      durationMs: z.number().int().nullable().openapi({ example: null }),
    }),
    archived: z.boolean().openapi({
      description:
        "A run of the monolith's read-only archive: its history from before the migration, and through the gateway every run " +
        "the monolith holds once the route sends it no traffic. Always false for a run this service made.",
      example: false,
    }),
  })
  .openapi("Validation");

const QueuedSchema = z
  .object({ validationId: z.uuid(), status: z.literal("queued") })
  .openapi("ValidationQueued", {
    example: { validationId: "5d3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d", status: "queued" },
  });

export const ResultSchema = z
  .object({
    line: z
      .number()
      .int()
      .openapi({ description: "Line in the file (1 is the header; 0 is the file as a whole)", example: 42 }),
    ruleId: z.string().openapi({ example: "amount-above-tariff" }),
    severity: Severity.openapi({ example: "error" }),
    column: z.string().nullable().openapi({ example: "amount_cents" }),
    message: z.string().openapi({ example: "Amount 125.00 $ exceeds tariff 86.50 $ × 1 unit" }),
  })
  .openapi("Finding");

const limit = z.coerce
  .number()
  .int()
  .min(1)
  .max(1000)
  .default(100)
  .openapi({ description: "Page size (1–1000)", example: 100 });
const cursor = z.string().max(512).optional().openapi({ description: "Opaque cursor from `nextCursor`" });
const ResultQuery = z.object({
  severity: Severity.optional().openapi({ example: "error" }),
  rule: pgText(1, 80).optional().openapi({ description: "Rule id", example: "duplicate-line" }),
  lineFrom: z.coerce.number().int().min(0).max(INT4_MAX).optional().openapi({ example: 1 }),
  lineTo: z.coerce.number().int().min(0).max(INT4_MAX).optional().openapi({ example: 5000 }),
});

export const createValidation = createRoute({
  method: "post",
  path: "/",
  operationId: "createValidation",
  tags: ["Validations"],
  summary: "Validate an uploaded file (asynchronously)",
  description:
    "Queues a run and returns at once with 202; follow `Location`, or `GET /api/validations/{id}/events` for live progress. Requires role editor.",
  security,
  request: {
    body: {
      required: true,
      content: {
        "application/json": {
          schema: z
            .object({ fileId: z.uuid().openapi({ example: "0b6f1c9e-3f7a-4a59-9d2e-5f1a2b3c4d5e" }) })
            .openapi("ValidationRequest"),
        },
      },
    },
  },
  responses: {
    202: {
      description: "Queued",
      headers: z.object({
        Location: z.string().openapi({ example: "/api/validations/5d3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d" }),
      }),
      content: { "application/json": { schema: QueuedSchema } },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

export const listValidationsRoute = createRoute({
  method: "get",
  path: "/",
  operationId: "listValidations",
  tags: ["Validations"],
  summary: "List your tenant's validation runs, newest first",
  description: "Requires role viewer.",
  security,
  request: {
    query: z.object({ limit, cursor, status: Status.optional().openapi({ example: "completed" }) }),
  },
  responses: {
    200: {
      description: "A page of runs",
      content: {
        "application/json": {
          schema: z
            .object({ items: z.array(ValidationSchema), nextCursor: z.string().nullable() })
            .openapi("ValidationPage"),
        },
      },
    },
    ...errorResponses(400, 401, 403),
  },
});

export const getValidationRoute = createRoute({
  method: "get",
  path: "/{id}",
  operationId: "getValidation",
  tags: ["Validations"],
  summary: "Status, progress, counts and timings of a run",
  description: "Requires role viewer. Another tenant's run is a 404.",
  security,
  request: { params: Id },
  responses: {
    200: { description: "The run", content: { "application/json": { schema: ValidationSchema } } },
    ...errorResponses(400, 401, 403, 404),
  },
});

export const listResultsRoute = createRoute({
  method: "get",
  path: "/{id}/results",
  operationId: "listValidationResults",
  tags: ["Validations"],
  summary: "Findings of a run, in line order",
  description: "Filter by severity, rule and line range. Requires role viewer.",
  security,
  request: { params: Id, query: ResultQuery.extend({ limit, cursor }) },
  responses: {
    200: {
      description: "A page of findings",
      content: {
        "application/json": {
          schema: z
            .object({ items: z.array(ResultSchema), nextCursor: z.string().nullable() })
            .openapi("FindingPage"),
        },
      },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

export const resultsCsvRoute = createRoute({
  method: "get",
  path: "/{id}/results.csv",
  operationId: "exportValidationResults",
  tags: ["Validations"],
  summary: "Findings of a run as CSV (streamed)",
  description:
    "Columns `line,rule_id,severity,column,message`; same filters as the JSON list. Requires role viewer.",
  security,
  request: { params: Id, query: ResultQuery },
  responses: {
    200: {
      description: "CSV, UTF-8",
      content: {
        "text/csv": { schema: z.string().openapi({ example: "line,rule_id,severity,column,message\n" }) },
      },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

export const eventsRoute = createRoute({
  method: "get",
  path: "/{id}/events",
  operationId: "streamValidationEvents",
  tags: ["Validations"],
  summary: "Live progress (Server-Sent Events)",
  description:
    "Sends a `progress` event (the run, as in GET /api/validations/{id}) whenever it changes, then one `completed` or `failed` event and closes. Requires role viewer.",
  security,
  request: { params: Id },
  responses: {
    200: {
      description: "text/event-stream",
      content: {
        "text/event-stream": {
          schema: z.string().openapi({ example: 'event: progress\ndata: {"status":"processing"}\n\n' }),
        },
      },
    },
    ...errorResponses(400, 401, 403, 404),
  },
});
