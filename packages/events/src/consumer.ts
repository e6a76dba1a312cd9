import type { Database, DatabaseHandle } from "@fig/db";
import { type Backoff, backoffDelayMs } from "@fig/retry";
import type { JsMsg } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { getTableName } from "drizzle-orm";
import type { Logger } from "pino";
import type { EventType, FigEvent } from "./catalog.ts";
import { EnvelopeError, readMessageEnvelope } from "./envelope.ts";
import type { NatsClient } from "./nats.ts";
import { runBatchedPull } from "./pull.ts";
import { runStatement } from "./statement.ts";
import { deadLetterSubject, streamNames, subjectOf } from "./subjects.ts";
import { inbox } from "./tables.ts";

/**
 * The inbox insert of a batch as one fixed text: the ids travel as one JSON array, so the driver prepares the
 * statement once per connection instead of drizzle building and mapping it per batch.
 */
const INBOX_INSERT_TEXT = `insert into "${getTableName(inbox)}" ("${inbox.consumer.name}", "${inbox.event_id.name}")
  select $1, id from jsonb_array_elements_text($2::jsonb) as ids(id)
  on conflict do nothing returning "${inbox.event_id.name}"`;

export type EventHandler<T extends EventType> = (event: FigEvent<T>, tx: Database) => Promise<void>;
/**
 * Applies events in stream order, in the transaction that records them in the inbox: one call per batch of
 * events the consumer has not applied before (a batch that fails is retried one event per call).
 */
export type EventBatchHandler<T extends EventType> = (events: FigEvent<T>[], tx: Database) => Promise<void>;

/** `handler` (one event per call) or `batchHandler` (the events of a batch at once, for one multi-row write). */
export type EventConsumerHandler<T extends EventType> =
  | { handler: EventHandler<T>; batchHandler?: never }
  | { batchHandler: EventBatchHandler<T>; handler?: never };

export type EventConsumerOptions<T extends EventType> = EventConsumerHandler<T> & {
  /** Durable consumer name, unique per service and purpose: `validation-reference-sync`. */
  name: string;
  type: T;
  /** Whose events to take: the catalog's owner unless named (e.g. `monolith`); each publisher has its own subject. */
  source?: string;
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
  /**
   * Events applied per transaction when they arrive faster than they are applied (default 250; twice that is read
   * ahead). A transaction's fixed cost (BEGIN, the inbox insert, COMMIT and its WAL flush) is what a backlog
   * pays per batch: 250 drains 1.5× faster than 100 did here (bench/README.md, events). Events that trickle in
   * are applied as they come, whatever this is.
   */
  batchSize?: number;
};

export type EventConsumer = { start(): Promise<void>; stop(): Promise<void> };

/**
 * A durable pull consumer with explicit acks. Events are applied in one database transaction that also
 * records (consumer, event id) in the inbox, so a redelivered event is applied once; the acks are sent only
 * after that transaction commits. Events that arrive faster than they are applied share a transaction
 * (`batchSize`); a `batchHandler` gets them in one call, a `handler` one call each. A batch that fails is
 * retried one event per transaction, so a poison event fails alone: it is retried with backoff, and after
 * `maxDeliver` deliveries it is copied to the dead-letter stream with the error, then terminated.
 *
 * @example
 * createEventConsumer({ name: "audit-files", type: "file.uploaded", database, nats, namespace, logger,
 *   batchHandler: (events, tx) => tx.insert(audit).values(events.map(toAuditRow)) });
 */
export function createEventConsumer<T extends EventType>({
  name,
  type,
  source,
  handler,
  batchHandler,
  database,
  nats,
  namespace,
  logger,
  maxDeliver = 5,
  backoff = { initialMs: 200, maxMs: 15_000, factor: 5 },
  ackWaitMs = 30_000,
  batchSize = 250,
}: EventConsumerOptions<T>): EventConsumer {
  const applyEvents: EventBatchHandler<T> =
    batchHandler ??
    (async (events, tx) => {
      for (const event of events) await (handler as EventHandler<T>)(event, tx);
    });

  /**
   * Applies, in one transaction, the events the inbox does not have yet (one insert for all their ids);
   * resolves to how many it applied. The same event twice in `events` (a redelivery racing the original)
   * is applied once.
   */
  async function apply(events: FigEvent<T>[]): Promise<number> {
    return database.db.transaction(async (tx) => {
      const ids = JSON.stringify(events.map((e) => e.id));
      const inserted = (await runStatement(tx as unknown as Database, INBOX_INSERT_TEXT, [name, ids])) as {
        event_id: string;
      }[];
      const fresh = new Set(inserted.map((r) => r.event_id));
      const toApply = events.filter((e) => fresh.delete(e.id));
      if (toApply.length > 0) await applyEvents(toApply, tx as unknown as Database);
      return toApply.length;
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

  /**
   * Sends an ack, nak or term. One that cannot reach the broker (the connection is gone) only means the
   * message comes back after ack_wait, where the inbox absorbs what was committed: it never fails a batch.
   */
  function settle(msg: JsMsg, send: (msg: JsMsg) => void) {
    try {
      send(msg);
    } catch (error) {
      logger.warn(
        { err: error, consumer: name, seq: msg.seq },
        "event: could not settle the message; the broker will redeliver it",
      );
    }
  }

  /** Dead-letters then terminates; if the dead-letter publish itself fails, the message is retried instead of lost. */
  async function deadLetterOrRetry(msg: JsMsg, error: unknown) {
    try {
      await deadLetter(msg, error);
      settle(msg, (m) => m.term());
    } catch (publishError) {
      logger.error({ err: publishError, consumer: name }, "event: could not dead-letter; will retry");
      settle(msg, (m) => m.nak(backoff.maxMs));
    }
  }

  async function handle(msg: JsMsg) {
    let event: FigEvent<T>;
    try {
      event = readMessageEnvelope(msg) as FigEvent<T>;
    } catch (error) {
      // A malformed message will never succeed: dead-letter it at once instead of retrying.
      await deadLetterOrRetry(msg, error);
      logger.error({ err: error, subject: msg.subject, seq: msg.seq }, "event: malformed; dead-lettered");
      return;
    }
    const heartbeat = setInterval(() => msg.working(), Math.max(1000, ackWaitMs / 2));
    let applied: boolean;
    try {
      applied = (await apply([event])) === 1;
    } catch (error) {
      await retryOrDeadLetter(msg, event, error);
      return;
    } finally {
      clearInterval(heartbeat);
    }
    settle(msg, (m) => m.ack());
    logger.debug(
      { consumer: name, id: event.id, applied },
      applied ? "event: applied" : "event: duplicate, skipped",
    );
  }

  /** After a failed apply: redelivery with backoff, or the dead-letter stream after `maxDeliver` deliveries. */
  async function retryOrDeadLetter(msg: JsMsg, event: FigEvent<T>, error: unknown) {
    const deliveries = msg.info.deliveryCount;
    if (deliveries >= maxDeliver) {
      await deadLetterOrRetry(msg, error);
      logger.error(
        { err: error, consumer: name, id: event.id, deliveries },
        "event: failed for the last time; dead-lettered",
      );
    } else {
      const delay = backoffDelayMs(backoff, deliveries);
      settle(msg, (m) => m.nak(delay));
      logger.warn(
        { err: error, consumer: name, id: event.id, deliveries, retryInMs: delay },
        "event: handler failed; will retry",
      );
    }
  }

  /**
   * Applies a batch in ONE transaction and acks it after the commit: a transaction per event capped
   * throughput at a few hundred events/s. If the batch fails, each message goes through `handle` on its own,
   * so retries, backoff and dead letters stay per event and the batch's other events are applied.
   */
  async function handleBatch(batch: JsMsg[]) {
    if (batch.length === 1) return handle(batch[0] as JsMsg);
    const msgs: JsMsg[] = [];
    const events: FigEvent<T>[] = [];
    for (const msg of batch) {
      try {
        events.push(readMessageEnvelope(msg) as FigEvent<T>);
        msgs.push(msg);
      } catch {
        await handle(msg); // malformed: dead-lettered there
      }
    }
    if (msgs.length === 0) return;
    const heartbeat = setInterval(
      () => {
        for (const msg of msgs) msg.working();
      },
      Math.max(1000, ackWaitMs / 2),
    );
    try {
      await apply(events);
    } catch (error) {
      logger.warn(
        { err: error, consumer: name, size: msgs.length },
        "event batch failed; retrying one by one",
      );
      for (const msg of msgs) await handle(msg);
      return;
    } finally {
      clearInterval(heartbeat);
    }
    // Sent back to back after the commit; nats.js writes them out together.
    for (const msg of msgs) settle(msg, (m) => m.ack());
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
