import {
  type DeadLetter,
  listDeadLetters,
  type NatsClient,
  replayDeadLetter,
  showDeadLetter,
  streamNames,
  subjectOf,
} from "@fig/events";
import { AppError, errorResponses, type Logger } from "@fig/service";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";

/** Where the validation work queue lives: the gateway's own NATS client and the namespace's streams. */
export type JobsSource = {
  nats: NatsClient;
  namespace: string;
  /** The validation worker's durable consumer on the jobs stream. */
  workerName?: string;
};

const RUNS_SHOWN = 50;

export const JobRunSchema = z
  .object({
    seq: z.number().int().openapi({ description: "Sequence in the jobs stream", example: 12 }),
    validationId: z.string().openapi({ example: "5d3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d" }),
    tenant: z.string().nullable().openapi({ example: "acme" }),
    state: z.enum(["queued", "processing"]),
    queuedAt: z.string().nullable().openapi({ example: "2026-11-22T10:00:00.000Z" }),
  })
  .openapi("GatewayJobRun");

export const JobsSnapshotSchema = z
  .object({
    stream: z.string().openapi({ example: "FIG_JOBS" }),
    consumer: z
      .string()
      .nullable()
      .openapi({ description: "The worker's durable consumer; null before a worker ever started" }),
    counts: z.object({
      queued: z.number().int().openapi({ description: "Jobs no worker has taken yet (num_pending)" }),
      processing: z
        .number()
        .int()
        .openapi({ description: "Jobs taken and not acknowledged (num_ack_pending)" }),
      completed: z
        .number()
        .int()
        .openapi({ description: "validation.completed events in the events stream (kept 7 days)" }),
      failed: z
        .number()
        .int()
        .openapi({ description: "validation.failed events in the events stream (kept 7 days)" }),
      deadLettered: z.number().int().openapi({ description: "Messages in the dead-letter stream" }),
    }),
    runs: z.array(JobRunSchema).openapi({ description: `The first ${RUNS_SHOWN} jobs still in the queue` }),
  })
  .openapi("GatewayJobs");

export const DeadLetterSchema = z
  .object({
    seq: z.number().int().openapi({ description: "Sequence in the dead-letter stream", example: 3 }),
    consumer: z.string().openapi({ example: "monolith-reference-sync" }),
    error: z.string().openapi({ example: 'relation "codes" does not exist' }),
    deliveries: z.number().int().openapi({ example: 5 }),
    subject: z.string().openapi({ example: "fig.events.reference.changed" }),
    eventId: z.string().optional(),
    eventType: z.string().optional().openapi({ example: "reference.changed" }),
    deadLetteredAt: z.string().optional(),
    data: z.string().openapi({ description: "The message's payload as text" }),
  })
  .openapi("GatewayDeadLetter");

export type JobRun = z.infer<typeof JobRunSchema>;
export type JobsSnapshot = z.infer<typeof JobsSnapshotSchema>;

const unavailable = (error: unknown) =>
  new AppError("not_ready", `NATS JetStream unavailable: ${(error as Error).message}`);

/** Counts and queued runs of the validation work queue, from JetStream stream and consumer info only. */
export async function jobsSnapshot({
  nats,
  namespace,
  workerName = "validation-worker",
}: JobsSource): Promise<JobsSnapshot> {
  const jsm = await nats.manager().catch((error) => {
    throw unavailable(error);
  });
  const names = streamNames(namespace);
  const jobs = await jsm.streams.info(names.jobs).catch(() => null);
  const consumer = jobs ? await jsm.consumers.info(names.jobs, workerName).catch(() => null) : null;
  const completedSubject = subjectOf(namespace, "validation.completed");
  const failedSubject = subjectOf(namespace, "validation.failed");
  const events = await jsm.streams
    .info(names.events, { subjects_filter: `${namespace}.events.validation.>` })
    .catch(() => null);
  const subjects = (events?.state.subjects ?? {}) as Record<string, number>;
  const dlq = await jsm.streams.info(names.deadLetters).catch(() => null);

  const runs: JobRun[] = [];
  if (jobs && jobs.state.messages > 0) {
    const delivered = consumer?.delivered.stream_seq ?? 0;
    for (let seq = jobs.state.first_seq; seq <= jobs.state.last_seq && runs.length < RUNS_SHOWN; seq++) {
      const m = await jsm.streams.getMessage(names.jobs, { seq }).catch(() => null);
      if (m?.header?.get("ce-type") !== "validation.requested") continue;
      let validationId = "";
      try {
        validationId = String((m.json() as { validationId?: unknown }).validationId ?? "");
      } catch {
        continue;
      }
      runs.push({
        seq,
        validationId,
        tenant: m.header.get("tenant") || null,
        state: seq <= delivered ? "processing" : "queued",
        queuedAt: m.header.get("ce-time") || null,
      });
    }
  }
  return {
    stream: names.jobs,
    consumer: consumer ? workerName : null,
    counts: {
      queued: consumer ? consumer.num_pending : (jobs?.state.messages ?? 0),
      processing: consumer?.num_ack_pending ?? 0,
      completed: subjects[completedSubject] ?? 0,
      failed: subjects[failedSubject] ?? 0,
      deadLettered: dlq?.state.messages ?? 0,
    },
    runs,
  };
}

export async function deadLetters(source: JobsSource, limit = 100): Promise<DeadLetter[]> {
  return listDeadLetters(source.nats, source.namespace, limit).catch((error) => {
    throw unavailable(error);
  });
}

/** Replays one dead letter (packages/events' replay: same event id, removed from the DLQ). */
export async function replay(source: JobsSource, seq: number): Promise<DeadLetter> {
  const letter = await showDeadLetter(source.nats, source.namespace, seq).catch((error) => {
    throw unavailable(error);
  });
  if (!letter)
    throw new AppError("not_found", `No dead letter ${seq} in ${streamNames(source.namespace).deadLetters}`);
  return replayDeadLetter(source.nats, source.namespace, seq);
}

const security = [{ bearerAuth: [] }];
const tags = ["Gateway admin"];
const json = <S extends z.ZodType>(schema: S) => ({ "application/json": { schema } });

export const jobsRoute = createRoute({
  method: "get",
  path: "/jobs",
  operationId: "getGatewayJobs",
  tags,
  summary: "The validation work queue: queued, processing, completed, failed and dead-lettered",
  description:
    "Requires role admin. Counts from JetStream stream and consumer info (the gateway has no database); completed and failed count the events of the last 7 days.",
  security,
  responses: {
    200: { description: "Counts and the jobs still in the queue", content: json(JobsSnapshotSchema) },
    ...errorResponses(401, 403, 429, 503),
  },
});

export const dlqRoute = createRoute({
  method: "get",
  path: "/dlq",
  operationId: "listGatewayDeadLetters",
  tags,
  summary: "Dead letters: messages a consumer gave up on, with the error",
  description: "Requires role admin. Oldest first, at most 100. `bun run events dlq list` shows the same.",
  security,
  responses: {
    200: {
      description: "The dead letters",
      content: json(z.object({ deadLetters: z.array(DeadLetterSchema) }).openapi("GatewayDeadLetters")),
    },
    ...errorResponses(401, 403, 429, 503),
  },
});

export const replayRoute = createRoute({
  method: "post",
  path: "/dlq/{seq}/replay",
  operationId: "replayGatewayDeadLetter",
  tags,
  summary: "Replay a dead letter to its original subject",
  description:
    "Requires role admin. Same CloudEvents headers and event id (consumers' inboxes still dedupe); the message leaves the dead-letter stream. `bun run events dlq replay <seq>` does the same.",
  security,
  request: {
    params: z.object({
      seq: z.coerce
        .number()
        .int()
        .positive()
        .openapi({ param: { name: "seq", in: "path" }, example: 3 }),
    }),
  },
  responses: {
    200: { description: "The dead letter, replayed", content: json(DeadLetterSchema) },
    ...errorResponses(400, 401, 403, 404, 429, 503),
  },
});

/**
 * /_fig/jobs, /_fig/dlq and /_fig/dlq/{seq}/replay on the admin router (behind its guard). Without a
 * JobsSource (no NATS) they answer 503.
 */
export function registerJobsRoutes(router: OpenAPIHono, source: JobsSource | undefined, logger?: Logger) {
  const need = () => {
    if (!source) throw new AppError("not_ready", "The gateway has no NATS connection for the work queue");
    return source;
  };
  router.openapi(jobsRoute, async (c) => c.json(await jobsSnapshot(need()), 200));
  router.openapi(dlqRoute, async (c) => c.json({ deadLetters: await deadLetters(need()) }, 200));
  router.openapi(replayRoute, async (c) => {
    const { seq } = c.req.valid("param");
    const letter = await replay(need(), seq);
    logger?.info(
      { seq, subject: letter.subject, eventId: letter.eventId, who: c.get("auth")?.sub },
      "dead letter replayed",
    );
    return c.json(letter, 200);
  });
}
