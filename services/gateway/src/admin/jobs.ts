import type { AuditRecorder } from "@fig/audit/publish";
import {
  type DeadLetter,
  deadLetterSubject,
  listDeadLetters,
  type NatsClient,
  replayDeadLetter,
  showDeadLetter,
  streamNames,
} from "@fig/events";
import type { QueueDeclaration } from "@fig/route-file/queues";
import { AppError, errorResponses, type Logger } from "@fig/service";
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";

/** Where the declared work queues live: the gateway's own NATS client, the namespace, and the route file's `queues:`. */
export type JobsSource = {
  nats: NatsClient;
  namespace: string;
  /** The work queues to show (the route file's `queues:`); none declared, GET /_fig/jobs lists none. */
  queues: QueueDeclaration[];
  /** Where a replay is recorded for the audit log (kind `dlq-replay`), with the operator tenant as the actor's. */
  audit?: { recorder: Pick<AuditRecorder, "record">; tenant: string };
};

const RUNS_SHOWN = 50;
/** At most this many messages are read per queue to find its runs (a stream shared with other queues). */
const SCAN_LIMIT = 1000;

export const JobRunSchema = z
  .object({
    seq: z.number().int().openapi({ description: "Sequence in the queue's stream", example: 12 }),
    id: z.string().nullable().openapi({
      description:
        "The job's item id (the queue's `itemId` field of the job's data); null when the job has none",
      example: "5d3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d",
    }),
    tenant: z.string().nullable().openapi({ example: "acme" }),
    state: z.enum(["queued", "processing"]),
    queuedAt: z.string().nullable().openapi({ example: "2026-11-22T10:00:00.000Z" }),
  })
  .openapi("GatewayJobRun");

export const JobQueueSchema = z
  .object({
    name: z
      .string()
      .openapi({ description: "The declaration's name (route file `queues[].name`)", example: "validation" }),
    label: z.string().openapi({ example: "Validation runs" }),
    description: z.string().nullable().openapi({ example: "Start a run with POST /api/validations." }),
    stream: z
      .string()
      .openapi({ description: "The stream's full name (namespace prefix added)", example: "FIG_JOBS" }),
    streamFound: z.boolean().openapi({ description: "false until the stream is created" }),
    consumer: z
      .string()
      .openapi({ description: "The workers' durable consumer", example: "validation-worker" }),
    consumerFound: z.boolean().openapi({ description: "false before a worker ever started" }),
    itemId: z
      .string()
      .openapi({ description: "The field of a job's data that names its item", example: "validationId" }),
    progress: z.string().nullable().openapi({
      description:
        "SSE endpoint of an item's progress on the gateway, `{id}` to be replaced; null when not declared",
      example: "/api/validations/{id}/events",
    }),
    counts: z.object({
      queued: z
        .number()
        .int()
        .openapi({ description: "Jobs no worker has taken yet (the consumer's num_pending)" }),
      processing: z
        .number()
        .int()
        .openapi({ description: "Jobs taken and not acknowledged (the consumer's num_ack_pending)" }),
      completed: z.number().int().nullable().openapi({
        description:
          "The declared completed events in the events stream (kept 7 days); null when none is declared",
      }),
      failed: z.number().int().nullable().openapi({
        description:
          "The declared failed events in the events stream (kept 7 days); null when none is declared",
      }),
      deadLettered: z
        .number()
        .int()
        .openapi({ description: "The consumer's messages in the dead-letter stream" }),
    }),
    runs: z.array(JobRunSchema).openapi({ description: `The first ${RUNS_SHOWN} jobs still in the queue` }),
  })
  .openapi("GatewayJobQueue");

export const JobsSnapshotSchema = z
  .object({
    queues: z
      .array(JobQueueSchema)
      .openapi({ description: "Every queue the route file declares, in its order" }),
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
export type JobQueue = z.infer<typeof JobQueueSchema>;
export type JobsSnapshot = z.infer<typeof JobsSnapshotSchema>;

const unavailable = (error: unknown) =>
  new AppError("not_ready", `NATS JetStream unavailable: ${(error as Error).message}`);

/** A namespace-relative stream name as the namespace's own streams are named (`JOBS` → `FIG_JOBS`). */
export function queueStreamName(namespace: string, stream: string): string {
  return `${streamNames(namespace).events.slice(0, -"_EVENTS".length)}_${stream}`;
}

/** Counts and queued runs of every declared queue, from JetStream stream and consumer info only. */
export async function jobsSnapshot({ nats, namespace, queues }: JobsSource): Promise<JobsSnapshot> {
  const jsm = await nats.manager().catch((error) => {
    throw unavailable(error);
  });
  return { queues: await Promise.all(queues.map((queue) => queueSnapshot(jsm, namespace, queue))) };
}

type Manager = Awaited<ReturnType<NatsClient["manager"]>>;

/** How many messages a stream holds on `subject` (wildcards allowed); 0 when the stream does not exist. */
async function countOn(jsm: Manager, stream: string, subject: string): Promise<number> {
  const info = await jsm.streams.info(stream, { subjects_filter: subject }).catch(() => null);
  return Object.values((info?.state.subjects ?? {}) as Record<string, number>).reduce((a, b) => a + b, 0);
}

/** Events of `type` in the events stream, also those published under another source (`<type>.<source>`). */
async function eventCount(jsm: Manager, namespace: string, type: string | undefined) {
  if (!type) return null;
  const events = streamNames(namespace).events;
  const subject = `${namespace}.events.${type}`;
  const [own, others] = await Promise.all([
    countOn(jsm, events, subject),
    countOn(jsm, events, `${subject}.>`),
  ]);
  return own + others;
}

/** A dotted field of the job's JSON data, as text; null when absent or not JSON. */
function itemIdOf(data: () => unknown, path: string): string | null {
  let value: unknown;
  try {
    value = data();
  } catch {
    return null;
  }
  for (const key of path.split(".")) value = (value as Record<string, unknown> | null)?.[key];
  return typeof value === "string" || typeof value === "number" ? String(value) : null;
}

async function queueSnapshot(jsm: Manager, namespace: string, queue: QueueDeclaration): Promise<JobQueue> {
  const stream = queueStreamName(namespace, queue.stream);
  const info = await jsm.streams.info(stream).catch(() => null);
  const consumer = info ? await jsm.consumers.info(stream, queue.consumer).catch(() => null) : null;
  const consumerFilter =
    consumer?.config.filter_subject ||
    (consumer?.config.filter_subjects?.length === 1 ? consumer.config.filter_subjects[0] : undefined);
  const filter = queue.subject ? `${namespace}.${queue.subject}` : (consumerFilter ?? ">");

  const runs: JobRun[] = [];
  if (info && info.state.messages > 0) {
    const delivered = consumer?.delivered.stream_seq ?? 0;
    // Below the ack floor every message is acknowledged (a limits stream keeps them; a work queue drops them).
    let seq = Math.max(info.state.first_seq, (consumer?.ack_floor.stream_seq ?? 0) + 1);
    for (let read = 0; read < SCAN_LIMIT && runs.length < RUNS_SHOWN && seq <= info.state.last_seq; read++) {
      // STREAM.MSG.GET's next_by_subj (server 2.9+): the first message on the filter at or after seq.
      const m = await jsm.streams
        .getMessage(stream, { seq, next_by_subj: filter } as unknown as { seq: number })
        .catch(() => null);
      if (!m) break;
      seq = m.seq + 1;
      if (m.header?.get("ce-type") !== queue.events.requested) continue;
      runs.push({
        seq: m.seq,
        id: itemIdOf(() => m.json(), queue.itemId),
        tenant: m.header.get("tenant") || null,
        state: m.seq <= delivered ? "processing" : "queued",
        queuedAt: m.header.get("ce-time") || null,
      });
    }
  }
  const [queuedWithoutConsumer, completed, failed, deadLettered] = await Promise.all([
    consumer || !info ? 0 : filter === ">" ? info.state.messages : countOn(jsm, stream, filter),
    eventCount(jsm, namespace, queue.events.completed),
    eventCount(jsm, namespace, queue.events.failed),
    countOn(jsm, streamNames(namespace).deadLetters, deadLetterSubject(namespace, queue.consumer)),
  ]);
  return {
    name: queue.name,
    label: queue.label ?? queue.name,
    description: queue.description ?? null,
    stream,
    streamFound: info !== null,
    consumer: queue.consumer,
    consumerFound: consumer !== null,
    itemId: queue.itemId,
    progress: queue.progress ?? null,
    counts: {
      queued: consumer ? consumer.num_pending : queuedWithoutConsumer,
      processing: consumer?.num_ack_pending ?? 0,
      completed,
      failed,
      deadLettered,
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
  summary: "The declared work queues: queued, processing, completed, failed and dead-lettered",
  description:
    "Operators only (role operator in the operator tenant). One entry per queue of the route file's `queues:`, in its order (none declared: an empty list). Counts from JetStream stream and consumer info (the gateway has no database); completed and failed count the events of the last 7 days.",
  security,
  responses: {
    200: { description: "Each queue's counts and the jobs still in it", content: json(JobsSnapshotSchema) },
    ...errorResponses(401, 403, 429, 503),
  },
});

export const dlqRoute = createRoute({
  method: "get",
  path: "/dlq",
  operationId: "listGatewayDeadLetters",
  tags,
  summary: "Dead letters: messages a consumer gave up on, with the error",
  description:
    "Operators only (role operator in the operator tenant). Oldest first, at most 100. `bun run events dlq list` shows the same.",
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
    "Operators only (role operator in the operator tenant). Same CloudEvents headers and event id (consumers' inboxes still dedupe); the message leaves the dead-letter stream. `bun run events dlq replay <seq>` does the same.",
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
    if (!source) throw new AppError("not_ready", "The gateway has no NATS connection for the work queues");
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
    const audit = need().audit;
    // The payload stays out of the log: it is a tenant's data; the ids say where to find it.
    await audit?.recorder.record({
      eventId: `dlq-replay:${need().namespace}:${seq}:${letter.eventId ?? "no-id"}`,
      actor: { sub: c.get("auth")?.sub ?? "unknown", tenant: audit.tenant },
      kind: "dlq-replay",
      subject: letter.consumer,
      from: { deadLetter: seq, error: letter.error, deliveries: letter.deliveries },
      to: { subject: letter.subject },
      reason: null,
      data: { eventId: letter.eventId ?? null, eventType: letter.eventType ?? null },
    });
    return c.json(letter, 200);
  });
}
