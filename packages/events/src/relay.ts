import type { Database, DatabaseHandle } from "@fig/db";
import { backoffDelayMs } from "@fig/retry";
import { and, getTableName, isNotNull, lt, sql } from "drizzle-orm";
import type { Logger } from "pino";
import type { EventType } from "./catalog.ts";
import { envelopeHeaderBlock } from "./envelope.ts";
import type { NatsClient } from "./nats.ts";
import { type AckedPublisher, ackedPublisher } from "./publisher.ts";
import { runStatement } from "./statement.ts";
import { ensureStreams } from "./streams.ts";
import { subjectOf } from "./subjects.ts";
import { OUTBOX_CHANNEL, outbox } from "./tables.ts";

const OUTBOX = getTableName(outbox);

/**
 * The claim, as one fixed text (prepared once per connection through postgres.js, as the consumer's inbox insert):
 * the oldest pending rows, locked, skipping rows another relay holds. `time` is `created_at` as
 * `Date#toISOString` writes it (milliseconds, truncated, UTC). `data` is published as it is stored: the JSON text,
 * not parsed here only to be stringified again. A payload stored as a jsonb string (an app binding JSON text to a
 * jsonb parameter as a string, which Bun's SQL encodes once more) is published as the text it holds.
 */
const CLAIM_TEXT = `select id, type, source, subject, tenant, traceparent,
    to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as time,
    case jsonb_typeof(data) when 'string' then data #>> '{}' else data::text end as data
  from "${OUTBOX}" where sent_at is null order by seq limit $1 for update skip locked`;

/** The ids as one jsonb parameter: a parameter per id would make a text per batch size, each parsed anew. */
const MARK_SENT_TEXT = `update "${OUTBOX}" set sent_at = clock_timestamp()
  where id in (select value::uuid from jsonb_array_elements_text($1::jsonb))`;

type ClaimedRow = {
  id: string;
  type: string;
  source: string;
  subject: string | null;
  tenant: string | null;
  traceparent: string | null;
  time: string;
  data: string;
};

export type OutboxRelayOptions = {
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn" | "error" | "debug">;
  /** Poll even without NOTIFY (NOTIFY is a hint; a missed one must not strand an event). */
  pollIntervalMs?: number;
  /**
   * After a flush that sent events, poll every `busyPollMs` until `lingerMs` pass without any: writers NOTIFY
   * at most every OUTBOX_NOTIFY_EVERY_MS (a NOTIFY serializes the commits of every notifying transaction).
   * Costs at most lingerMs / busyPollMs empty polls after the last event of a burst.
   */
  busyPollMs?: number;
  lingerMs?: number;
  batchSize?: number;
  /** Backoff while NATS is unreachable or rejecting. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Sent rows older than this are deleted. */
  retentionMs?: number;
  pruneIntervalMs?: number;
  /** How long to wait for the broker's ack of one publish. */
  publishTimeoutMs?: number;
  /** Fault injection for crash tests: runs after a batch is published and before it is marked sent. */
  afterPublish?: (ids: string[]) => Promise<void> | void;
};

/** A publish failure already noted on its row. */
class RecordedFailure extends Error {
  constructor(cause: unknown) {
    super(String((cause as Error)?.message ?? cause), { cause });
  }
}

export type OutboxRelay = {
  start(): Promise<void>;
  /** Stops after the batch in flight, if any. */
  stop(): Promise<void>;
  /** Publishes what is pending now; resolves to the number of events sent (tests and benches). */
  flush(): Promise<number>;
};

/**
 * Publishes outbox rows to JetStream with `Nats-Msg-Id` = event id, then marks them sent.
 * Rows are claimed with FOR UPDATE SKIP LOCKED so several replicas can relay at once; one relay publishes
 * in `seq` order. A crash between publish and mark republishes the same id, which the broker's duplicate
 * window drops (and consumers' inboxes would absorb anyway).
 */
export function createOutboxRelay({
  database,
  nats,
  namespace,
  logger,
  pollIntervalMs = 1000,
  busyPollMs = 10,
  lingerMs = 1000,
  batchSize = 500,
  retryMinMs = 200,
  retryMaxMs = 10_000,
  retentionMs = 7 * 24 * 3600 * 1000,
  pruneIntervalMs = 60_000,
  publishTimeoutMs = 2000,
  afterPublish,
}: OutboxRelayOptions): OutboxRelay {
  const { db } = database;
  let running = false;
  let wake: (() => void) | undefined;
  // Set by NOTIFY; a notification that arrives mid-flush must not wait for the next poll.
  let notified = false;
  let loop: Promise<void> | undefined;
  let unlisten: (() => Promise<void>) | undefined;
  let streamsReady = false;
  let lastPrune = 0;
  let lastSent = 0;

  /** A batch in flight: its claim, whether all its messages were acked, and what it sent once committed. */
  type Batch = { claimed: Promise<number>; acked: Promise<boolean>; done: Promise<number> };

  /**
   * Claims, publishes and marks one batch in a transaction of its own. Its messages go out only once
   * `previousAcked` says every message of the batch before was acked (so the stream stores them in `seq`
   * order), and not at all if one of those failed: its rows then stay pending, to go out after the failed ones.
   */
  function startBatch(publisher: AckedPublisher, previousAcked: Promise<boolean>): Batch {
    const claimed = Promise.withResolvers<number>();
    const acked = Promise.withResolvers<boolean>();
    const done = (async () => {
      const outcome = await db.transaction(async (tx) => {
        const rows = (await runStatement(tx as unknown as Database, CLAIM_TEXT, [
          batchSize,
        ])) as unknown as ClaimedRow[];
        claimed.resolve(rows.length);
        if (rows.length === 0 || !(await previousAcked))
          return { sent: 0, failure: undefined, failedId: undefined };
        // Written in order on one connection, so the stream receives them in order; acks are awaited together.
        const results = await publisher.publish(
          rows.map((row) => ({
            subject: subjectOf(namespace, row.type as EventType, row.source),
            headers: envelopeHeaderBlock(
              {
                id: row.id,
                type: row.type as EventType,
                source: row.source,
                time: row.time,
                subject: row.subject ?? undefined,
                tenant: row.tenant ?? undefined,
                traceparent: row.traceparent ?? undefined,
              },
              row.id,
            ),
            data: row.data,
          })),
          publishTimeoutMs,
        );
        const firstFailure = results.findIndex((error) => error !== undefined);
        acked.resolve(firstFailure === -1);
        const published = firstFailure === -1 ? rows : rows.slice(0, firstFailure);
        if (published.length > 0) {
          await afterPublish?.(published.map((r) => r.id));
          await runStatement(tx as unknown as Database, MARK_SENT_TEXT, [
            JSON.stringify(published.map((r) => r.id)),
          ]);
        }
        const failure = firstFailure === -1 ? undefined : results[firstFailure];
        return { sent: published.length, failure, failedId: rows[firstFailure]?.id };
      });
      // Recorded and thrown only after the commit, so rows published before the failure stay marked sent.
      if (outcome.failure !== undefined) {
        await recordFailure(outcome.failure, outcome.failedId);
        throw new RecordedFailure(outcome.failure);
      }
      return outcome.sent;
    })();
    // Whatever ended the batch (nothing to claim, a claim or a mark that threw), the next one is not left waiting.
    const release = () => {
      claimed.resolve(0);
      acked.resolve(false);
    };
    done.then(release, release);
    return { claimed: claimed.promise, acked: acked.promise, done };
  }

  /** Notes a failed attempt on the event (default: the oldest pending one), so operators see why the outbox is stuck. */
  async function recordFailure(error: unknown, id?: string) {
    const message = String((error as Error)?.message ?? error).slice(0, 500);
    const target = id
      ? sql`${outbox.id} = ${id}`
      : sql`${outbox.id} = (select ${outbox.id} from ${outbox} where ${outbox.sent_at} is null order by ${outbox.seq} limit 1)`;
    await db
      .update(outbox)
      .set({ attempts: sql`${outbox.attempts} + 1`, last_error: message })
      .where(target)
      .catch(() => {});
  }

  async function prune() {
    if (Date.now() - lastPrune < pruneIntervalMs) return;
    lastPrune = Date.now();
    const cutoff = new Date(Date.now() - retentionMs);
    const deleted = await db
      .delete(outbox)
      .where(and(isNotNull(outbox.sent_at), lt(outbox.sent_at, cutoff)))
      .returning({ id: outbox.id });
    if (deleted.length > 0) logger.info({ deleted: deleted.length }, "outbox: pruned sent events");
  }

  /**
   * Relays batches until one comes back less than full. A full batch has the next one claimed at once, by a
   * second transaction (SKIP LOCKED passes over the rows the first holds), while its acks come back; the next one
   * publishes once they are all in, while the first marks its rows and commits. So the claim and the mark of a
   * batch overlap the other's publishing, and at most two transactions are open.
   */
  async function flush(): Promise<number> {
    const publisher = ackedPublisher(await nats.connection());
    if (!streamsReady) {
      await ensureStreams(await nats.manager(), namespace);
      streamsReady = true;
    }
    let total = 0;
    let current = startBatch(publisher, Promise.resolve(true));
    for (;;) {
      const next = (await current.claimed) === batchSize ? startBatch(publisher, current.acked) : undefined;
      try {
        total += await current.done;
      } catch (error) {
        // The next batch publishes nothing after a failure here; its transaction ends before the retry.
        await next?.done.catch(() => {});
        throw error;
      }
      if (!next) return total;
      current = next;
    }
  }

  function sleep(ms: number): Promise<void> {
    if (notified) {
      notified = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        notified = false;
        resolve();
      }
      wake = done;
    });
  }

  async function run() {
    const backoff = { initialMs: retryMinMs, maxMs: retryMaxMs };
    let failures = 0;
    while (running) {
      try {
        const sent = await flush();
        if (sent > 0) logger.debug({ sent }, "outbox: published");
        if (sent > 0) lastSent = Date.now();
        failures = 0;
        await prune();
        if (running) await sleep(Date.now() - lastSent < lingerMs ? busyPollMs : pollIntervalMs);
      } catch (error) {
        // The streams may be gone (a NATS restart without its store): declare them again on the next try.
        streamsReady = false;
        if (!(error instanceof RecordedFailure)) await recordFailure(error);
        const retryMs = backoffDelayMs(backoff, ++failures);
        logger.warn({ err: error, retryInMs: retryMs }, "outbox: publish failed; events stay pending");
        if (running) await sleep(retryMs);
      }
    }
  }

  return {
    async start() {
      if (running) return;
      running = true;
      unlisten = await database.listen(OUTBOX_CHANNEL, () => {
        notified = true;
        wake?.();
      });
      loop = run();
      logger.info({ namespace }, "outbox relay started");
    },
    async stop() {
      running = false;
      wake?.();
      await loop;
      await unlisten?.().catch(() => {});
    },
    flush,
  };
}
