import { ensureStreams, envelopeHeaders, type NatsClient, subjectOf } from "@fig/events";
import { type Backoff, backoffDelayMs } from "@fig/retry";
import type { Logger } from "pino";
import { type AuditRecord, type AuditSubmission, normalizeRecord } from "./entry.ts";

/** What a producer says about one act; `at` defaults to now, `eventId` to a fresh UUID. */
export type AuditInput = Omit<AuditRecord, "at" | "subject" | "from" | "to" | "reason" | "data"> &
  Partial<Pick<AuditRecord, "at" | "subject" | "from" | "to" | "reason" | "data">> & { eventId?: string };

export type AuditRecorder = {
  /**
   * Publishes the entry (JetStream acknowledges it) and resolves true; if that fails, keeps it in memory,
   * logs an error, retries in the background with the same event id (so it is appended once) and resolves
   * false. Never throws: the act it records has happened already.
   */
  record(input: AuditInput): Promise<boolean>;
  /** Entries published to nobody yet (retried in the background). */
  pending(): AuditSubmission[];
  /** Tries the pending entries now; resolves to how many are still pending. */
  flush(): Promise<number>;
  /** Stops retrying after one last flush; what is still pending is logged in full, at error level. */
  stop(): Promise<void>;
};

export type AuditRecorderOptions = {
  nats: NatsClient;
  namespace: string;
  /** The publishing component (`gateway`, `promote`…): its own subject, `<ns>.events.audit.recorded.<source>`. */
  source: string;
  logger: Pick<Logger, "error" | "warn" | "info">;
  /** Delay between background retries (default 500 ms doubling to 30 s). */
  backoff?: Backoff;
  /** How long one publish waits for JetStream's acknowledgement. */
  publishTimeoutMs?: number;
};

/**
 * Records control-plane acts for the audit log through JetStream: a durable queue the audit service appends
 * from, so recording never waits on the audit database. A publish that fails is never dropped silently.
 *
 * @example
 * const audit = createAuditRecorder({ nats, namespace, source: "gateway", logger });
 * await audit.record({ actor: { sub: "alice", tenant: "platform" }, kind: "weights", subject: "validation", from, to, reason });
 */
export function createAuditRecorder({
  nats,
  namespace,
  source,
  logger,
  backoff = { initialMs: 500, maxMs: 30_000, factor: 2 },
  publishTimeoutMs = 5000,
}: AuditRecorderOptions): AuditRecorder {
  const subject = subjectOf(namespace, "audit.recorded", source);
  const queue: AuditSubmission[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let attempt = 0;
  let stopped = false;
  let flushing: Promise<number> | undefined;

  // The events stream may not exist yet (a gateway publishes nothing else): made once, again after a failure.
  let streams: Promise<void> | undefined;
  const ensureStreamsOnce = () => {
    streams ??= nats.manager().then((jsm) => ensureStreams(jsm, namespace));
    return streams.catch((error) => {
      streams = undefined;
      throw error;
    });
  };

  async function publish({ eventId, record }: AuditSubmission): Promise<void> {
    await ensureStreamsOnce();
    const js = await nats.jetstream();
    const headers = envelopeHeaders({
      id: eventId,
      type: "audit.recorded",
      source,
      time: record.at,
      subject: record.subject ?? undefined,
      tenant: record.actor.tenant ?? undefined,
      data: record,
    });
    await js.publish(subject, JSON.stringify(record), { msgID: eventId, headers, timeout: publishTimeoutMs });
  }

  function schedule() {
    if (stopped || timer || queue.length === 0) return;
    attempt += 1;
    timer = setTimeout(
      () => {
        timer = undefined;
        void flush().then(() => schedule());
      },
      backoffDelayMs(backoff, attempt),
    );
  }

  function flush(): Promise<number> {
    flushing ??= (async () => {
      while (queue.length > 0) {
        const next = queue[0] as AuditSubmission;
        try {
          await publish(next);
        } catch (error) {
          logger.warn({ err: error, pending: queue.length }, "audit: retry failed; entries still pending");
          return queue.length;
        }
        queue.shift();
        logger.info({ eventId: next.eventId, kind: next.record.kind }, "audit: pending entry published");
      }
      attempt = 0;
      return 0;
    })().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  return {
    async record(input) {
      const { eventId = crypto.randomUUID(), at = new Date().toISOString(), ...rest } = input;
      const submission = { eventId, record: normalizeRecord({ ...rest, at } as AuditRecord) };
      // Behind earlier failures: publish in order, after them.
      if (queue.length === 0) {
        try {
          await publish(submission);
          return true;
        } catch (error) {
          logger.error(
            { err: error, audit: submission },
            "audit: could not publish an entry; kept in memory and retried until it is",
          );
        }
      }
      queue.push(submission);
      schedule();
      return false;
    },
    pending: () => [...queue],
    flush,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      const left = await flush();
      if (left > 0) logger.error({ audit: [...queue] }, "audit: stopped with entries never published");
    },
  };
}
