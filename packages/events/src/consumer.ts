import type { Database, DatabaseHandle } from "@fig/db";
import { type Backoff, backoffDelayMs } from "@fig/retry";
import type { JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import type { Logger } from "pino";
import type { EventType, FigEvent } from "./catalog.ts";
import { EnvelopeError, readEnvelope } from "./envelope.ts";
import type { NatsClient } from "./nats.ts";
import { runBatchedPull } from "./pull.ts";
import { deadLetterSubject, streamNames, subjectOf } from "./subjects.ts";
import { inbox } from "./tables.ts";

export type EventHandler<T extends EventType> = (event: FigEvent<T>, tx: Database) => Promise<void>;

export type EventConsumerOptions<T extends EventType> = {
  /** Durable consumer name, unique per service and purpose: `validation-reference-sync`. */
  name: string;
  type: T;
  /** Whose events to take: the catalog's owner unless named (e.g. `monolith`); each publisher has its own subject. */
  source?: string;
  handler: EventHandler<T>;
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn" | "error" | "debug">;
  /** Deliveries before the message goes to the dead-letter stream. */
  maxDeliver?: number;
  /** Delay before redelivery after the n-th failure (default 200 ms, 1 s, 5 s, then 15 s). */
  backoff?: Backoff;
  /** Redelivery when a handler neither acks nor fails (crash); long handlers send `working()` heartbeats. */
  ackWaitMs?: number;
  /** Events applied per transaction when they arrive faster than they are applied. */
  batchSize?: number;
};

export type EventConsumer = { start(): Promise<void>; stop(): Promise<void> };

/**
 * A durable pull consumer with explicit acks. Each event is applied in one database transaction that also
 * records (consumer, event id) in the inbox, so a redelivered event is applied once; the ack is sent only
 * after that transaction commits. A handler that keeps failing is retried with backoff, and after
 * `maxDeliver` deliveries the message is copied to the dead-letter stream with the error, then terminated.
 */
export function createEventConsumer<T extends EventType>({
  name,
  type,
  source,
  handler,
  database,
  nats,
  namespace,
  logger,
  maxDeliver = 5,
  backoff = { initialMs: 200, maxMs: 15_000, factor: 5 },
  ackWaitMs = 30_000,
  batchSize = 100,
}: EventConsumerOptions<T>): EventConsumer {
  /** Applies the event unless the inbox has it already; true when this call applied it. */
  async function apply(event: FigEvent<T>): Promise<boolean> {
    return database.db.transaction(async (tx) => {
      const fresh = await tx
        .insert(inbox)
        .values({ consumer: name, event_id: event.id })
        .onConflictDoNothing()
        .returning({ id: inbox.event_id });
      if (fresh.length === 0) return false;
      await handler(event, tx as unknown as Database);
      return true;
    });
  }

  async function deadLetter(msg: JsMsg, error: unknown) {
    const h = natsHeaders();
    // Keep the CloudEvents attributes; drop Nats-Msg-Id, or a second dead-lettering would be deduped away.
    for (const [key, values] of msg.headers ?? []) {
      if (!key.toLowerCase().startsWith("nats-")) for (const v of values) h.append(key, v);
    }
    h.set("fig-dlq-consumer", name);
    // NATS header values cannot hold line breaks (zod messages and stack-like errors have them).
    h.set(
      "fig-dlq-error",
      String((error as Error)?.message ?? error)
        .replace(/[\r\n]+/g, " ")
        .slice(0, 1000),
    );
    h.set("fig-dlq-deliveries", String(msg.info.deliveryCount));
    h.set("fig-dlq-subject", msg.subject);
    h.set("fig-dlq-stream-seq", String(msg.seq));
    h.set("fig-dlq-time", new Date().toISOString());
    const js = await nats.jetstream();
    await js.publish(deadLetterSubject(namespace, name), msg.data, { headers: h });
  }

  /** Dead-letters then terminates; if the dead-letter publish itself fails, the message is retried instead of lost. */
  async function deadLetterOrRetry(msg: JsMsg, error: unknown) {
    try {
      await deadLetter(msg, error);
      msg.term();
    } catch (publishError) {
      logger.error({ err: publishError, consumer: name }, "event: could not dead-letter; will retry");
      msg.nak(backoff.maxMs);
    }
  }

  async function handle(msg: JsMsg) {
    let event: FigEvent<T>;
    try {
      event = readEnvelope(msg.headers, msg.data) as FigEvent<T>;
    } catch (error) {
      // A malformed message will never succeed: dead-letter it at once instead of retrying.
      await deadLetterOrRetry(msg, error);
      logger.error({ err: error, subject: msg.subject, seq: msg.seq }, "event: malformed; dead-lettered");
      return;
    }
    const heartbeat = setInterval(() => msg.working(), Math.max(1000, ackWaitMs / 2));
    try {
      const applied = await apply(event);
      msg.ack();
      logger.debug(
        { consumer: name, id: event.id, applied },
        applied ? "event: applied" : "event: duplicate, skipped",
      );
    } catch (error) {
      const deliveries = msg.info.deliveryCount;
      if (deliveries >= maxDeliver) {
        await deadLetterOrRetry(msg, error);
        logger.error(
          { err: error, consumer: name, id: event.id, deliveries },
          "event: failed for the last time; dead-lettered",
        );
      } else {
        const delay = backoffDelayMs(backoff, deliveries);
        msg.nak(delay);
        logger.warn(
          { err: error, consumer: name, id: event.id, deliveries, retryInMs: delay },
          "event: handler failed; will retry",
        );
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /**
   * Applies a batch in ONE transaction (one multi-row inbox insert, then the handlers in stream order) and acks
   * it after the commit. A transaction per event capped throughput at a few hundred events/s. If the batch
   * fails, each message goes through `handle` on its own, so retries, backoff and dead letters stay per event.
   */
  async function handleBatch(batch: JsMsg[]) {
    if (batch.length === 1) return handle(batch[0] as JsMsg);
    const parsed: { msg: JsMsg; event: FigEvent<T> }[] = [];
    for (const msg of batch) {
      try {
        parsed.push({ msg, event: readEnvelope(msg.headers, msg.data) as FigEvent<T> });
      } catch {
        await handle(msg); // malformed: dead-lettered there
      }
    }
    if (parsed.length === 0) return;
    const heartbeat = setInterval(
      () => {
        for (const { msg } of parsed) msg.working();
      },
      Math.max(1000, ackWaitMs / 2),
    );
    try {
      await database.db.transaction(async (tx) => {
        const fresh = new Set(
          (
            await tx
              .insert(inbox)
              .values(parsed.map(({ event }) => ({ consumer: name, event_id: event.id })))
              .onConflictDoNothing()
              .returning({ id: inbox.event_id })
          ).map((r) => r.id),
        );
        for (const { event } of parsed) {
          // The same event twice in one batch (a redelivery racing the original) is applied once.
          if (fresh.delete(event.id)) await handler(event, tx as unknown as Database);
        }
      });
      for (const { msg } of parsed) msg.ack();
    } catch (error) {
      logger.warn(
        { err: error, consumer: name, size: parsed.length },
        "event batch failed; retrying one by one",
      );
      for (const { msg } of parsed) await handle(msg);
    } finally {
      clearInterval(heartbeat);
    }
  }

  // Messages wait while the previous batch is applied; reading pauses when 2 × batchSize wait.
  const pull = runBatchedPull({
    nats,
    namespace,
    stream: streamNames(namespace).events,
    name,
    filterSubject: subjectOf(namespace, type, source),
    ackWaitMs,
    maxDeliver,
    batchSize,
    logger,
    handleBatch,
  });

  return {
    async start() {
      pull.start();
      logger.info({ consumer: name, type }, "event consumer started");
    },
    /** Stops pulling, then applies (and acks) what was already received before returning. */
    async stop() {
      await pull.stop();
    },
  };
}

export { EnvelopeError };
