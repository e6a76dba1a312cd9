import { z } from "zod";

const slug = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    "must be a slug: lowercase letters, digits and '-' (like notes-transcription)",
  );

/** JetStream stream and consumer names: no dots, spaces or wildcards (they are subject tokens in the JS API). */
const jetStreamName = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,200}$/, `must be a JetStream ${what} name: letters, digits, '_' and '-'`);

const subject = z
  .string()
  .regex(
    /^[A-Za-z0-9_-]+(\.([A-Za-z0-9_-]+|\*))*(\.>)?$/,
    "must be a subject relative to the namespace, tokens separated by '.' (like jobs.transcription.requested)",
  );

const eventType = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/,
    "must be an event type <entity>.<verb> (like transcription.completed)",
  );

const fieldPath = z
  .string()
  .regex(
    /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/,
    "must be a field of the job's JSON data, dotted for nesting (like run.id)",
  );

// The console sends the viewer's own token with this request, so it must stay on the gateway's origin.
const progressTemplate = z
  .string()
  .refine((v) => v.startsWith("/") && !v.startsWith("//") && !v.includes("://"), {
    message: 'must be a path on the gateway starting with one "/" (the viewer\'s token is sent with it)',
  })
  .refine((v) => v.includes("{id}"), { message: "must contain {id}, replaced by the item's id" });

/**
 * A JetStream work queue the console's Jobs tab shows (and GET /_fig/jobs returns). Names are relative to the
 * deployment's NATS namespace: `stream: JOBS` is the stream `<NAMESPACE>_JOBS`, `subject: jobs.x.requested` is
 * `<namespace>.jobs.x.requested`; completed and failed events are counted in the namespace's events stream
 * (`<namespace>.events.<type>`), where Fig's outbox relay publishes them.
 *
 * @example
 * queueDeclarationSchema.parse({
 *   name: "validation", stream: "JOBS", consumer: "validation-worker", itemId: "validationId",
 *   events: { requested: "validation.requested", completed: "validation.completed", failed: "validation.failed" },
 *   progress: "/api/validations/{id}/events",
 * });
 */
export const queueDeclarationSchema = z.strictObject({
  /** Slug: the panel's id and the API's `name`. */
  name: slug,
  /** The panel's title; default: the name. */
  label: z.string().min(1).max(100).optional(),
  /** One line under the title: what a job is and how one starts (`POST /api/validations`). */
  description: z.string().min(1).max(500).optional(),
  /** The stream holding the jobs, without the namespace prefix (`JOBS` → `<NAMESPACE>_JOBS`). */
  stream: jetStreamName("stream"),
  /** The workers' durable consumer on that stream: queued = its pending, processing = its unacknowledged. */
  consumer: jetStreamName("consumer"),
  /** This queue's jobs in the stream, when the stream holds others too; default: the consumer's filter. */
  subject: subject.optional(),
  events: z.strictObject({
    /** The `ce-type` of a job message; other messages in the stream are not this queue's runs. */
    requested: eventType,
    /** Counted as completed / failed in the events stream (kept 7 days); left out, the count shows as none. */
    completed: eventType.optional(),
    failed: eventType.optional(),
  }),
  /** The field of the job's JSON data that names the item (`validationId`): the run's id in the console. */
  itemId: fieldPath,
  /** An SSE endpoint of the item's progress on the gateway, `{id}` replaced; the console follows it. */
  progress: progressTemplate.optional(),
});

export type QueueDeclaration = z.infer<typeof queueDeclarationSchema>;

/** The `queues:` list: each declaration, and names unique (a name is the panel's id). */
export const queueDeclarationsSchema = z.array(queueDeclarationSchema).superRefine((queues, ctx) => {
  const seen = new Map<string, number>();
  queues.forEach((queue, i) => {
    const first = seen.get(queue.name);
    if (first !== undefined)
      ctx.addIssue({
        code: "custom",
        path: [i, "name"],
        message: `duplicate queue name "${queue.name}" (queues[${first}] has it)`,
      });
    else seen.set(queue.name, i);
  });
});
