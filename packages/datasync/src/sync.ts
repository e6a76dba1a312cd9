import type { Database, DatabaseHandle } from "@fig/db";
import {
  type FigEvent,
  inbox,
  type NatsClient,
  readEnvelope,
  runBatchedPull,
  streamNames,
  subjectOf,
} from "@fig/events";
import { REFERENCE_SPECS, type RecordChange, type ResourceSpec, type Row } from "@fig/reference";
import { type Backoff, backoffDelayMs } from "@fig/retry";
import type { JsMsg } from "@nats-io/jetstream";
import { and, eq } from "drizzle-orm";
import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import { type ApplyOutcome, applyIncomingChanges, applySnapshot, type ChangeOp } from "./apply.ts";
import { fetchOwnerTable, type OwnerApi } from "./owner-api.ts";
import type { DatasyncState } from "./state.ts";

type ChangedEvent = FigEvent<"reference.changed">;

export type ReferenceSyncOptions = {
  /** Durable consumer name: `<service>-reference-sync`. */
  name: string;
  /** Whose `reference.changed` to apply: `monolith` or `reference-data` (each publishes on its own subject). */
  origin: string;
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn" | "error" | "debug">;
  /** The origin's API, re-read when an event is truncated or carries no rows. */
  ownerApi: OwnerApi;
  /** The service's own event for what was applied (its consumers hear about synced changes too). */
  recordChange?: RecordChange;
  metrics?: SyncMetrics;
  /** Where the lag is reported for the gateway's `GET /_fig/data` (migrate-data's KV bucket, key `lag.<route>`). */
  lagReport?: { state: Pick<DatasyncState, "saveLag">; route: string; everyMs?: number; windowMs?: number };
  batchSize?: number;
  ackWaitMs?: number;
  maxDeliver?: number;
};

export type SyncMetrics = {
  lag: Histogram<"origin" | "table">;
  events: Counter<"origin" | "outcome">;
};

/** `fig_sync_lag_seconds` (owner commit → applied here) and `fig_sync_events_total`, in `registry`. */
export function createSyncMetrics(registry: Registry): SyncMetrics {
  return {
    lag: new Histogram({
      name: "fig_sync_lag_seconds",
      help: "Live sync lag: the owner's commit (event time) to the change applied here (commit of the apply)",
      labelNames: ["origin", "table"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    events: new Counter({
      name: "fig_sync_events_total",
      help: "reference.changed events taken by the live sync, by outcome (applied, duplicate, failed, malformed)",
      labelNames: ["origin", "outcome"],
      registers: [registry],
    }),
  };
}

const specOf = (table: string) => REFERENCE_SPECS.find((s) => s.resource === table) as ResourceSpec;

/** An event the applier cannot use as is: no rows (truncated, or an older keys-only one), or rows without versions. */
export function needsSnapshot(data: ChangedEvent["data"]): boolean {
  return (
    data.truncated ||
    data.sequence === undefined ||
    data.rows === undefined ||
    (data.rows.length === 0 && data.count > 0) ||
    data.rows.some((r) => r.version === undefined || r.updated_at === undefined)
  );
}

export type ReferenceSync = {
  start(): Promise<void>;
  /** Stops pulling; what was received is applied (and acked) first. */
  stop(): Promise<void>;
};

/** Redelivery after a failed apply: 200 ms, doubling, up to 10 s (the one backoff rule, @fig/retry). */
const RETRY_BACKOFF: Backoff = { initialMs: 200, maxMs: 10_000 };

/**
 * The live sync: a durable JetStream consumer of the origin's `reference.changed` that applies the carried
 * rows to this database. Per batch: one transaction records the events in the inbox in one statement (a
 * redelivery is applied once) and applies them set-based (`applyIncomingChanges`: per table one upsert, one
 * delete, one watermark upsert, one republish per op); acks follow the commit. An event without rows is turned into a
 * re-read of that table from the origin's API, fetched BEFORE its transaction (never inside it). A failure
 * naks the failed event and everything after it in the batch; per-key sequences make any reordering on
 * redelivery harmless (an overtaken change is skipped as stale).
 */
export function createReferenceSync({
  name,
  origin,
  database,
  nats,
  namespace,
  logger,
  ownerApi,
  recordChange,
  metrics,
  lagReport,
  batchSize = 200,
  ackWaitMs = 30_000,
  maxDeliver = 1000,
}: ReferenceSyncOptions): ReferenceSync {
  let running = false;

  async function alreadyApplied(id: string) {
    const [row] = await database.db
      .select({ id: inbox.event_id })
      .from(inbox)
      .where(and(eq(inbox.consumer, name), eq(inbox.event_id, id)));
    return row !== undefined;
  }

  /** Inbox first: false when this event was applied before (a redelivery). */
  async function claim(tx: Database, id: string) {
    const fresh = await tx
      .insert(inbox)
      .values({ consumer: name, event_id: id })
      .onConflictDoNothing()
      .returning({ id: inbox.event_id });
    return fresh.length === 1;
  }

  const lagReporter = lagReport
    ? createLagReporter({ ...lagReport, origin, consumer: name, logger })
    : undefined;

  function observe(events: ChangedEvent[]) {
    const now = Date.now();
    for (const e of events) {
      const seconds = Math.max(0, (now - Date.parse(e.time)) / 1000);
      metrics?.lag.observe({ origin, table: e.data.table }, seconds);
      lagReporter?.observe(now, seconds);
    }
    lagReporter?.maybeReport(now);
  }

  /** Inbox first, one statement for the run: the ids not seen before (a redelivery is applied once). */
  async function claimAll(tx: Database, ids: string[]) {
    const fresh = await tx
      .insert(inbox)
      .values(ids.map((id) => ({ consumer: name, event_id: id })))
      .onConflictDoNothing()
      .returning({ id: inbox.event_id });
    return new Set(fresh.map((r) => r.id));
  }

  async function applyRun(events: ChangedEvent[]): Promise<ApplyOutcome & { duplicates: number }> {
    let outcome: ApplyOutcome = { applied: 0, skipped: 0 };
    let fresh: ChangedEvent[] = [];
    await database.db.transaction(async (txAny) => {
      const tx = txAny as unknown as Database;
      const claimed = await claimAll(tx, [...new Set(events.map((e) => e.id))]);
      fresh = events.filter((e) => claimed.delete(e.id));
      const changes = fresh.map((event) => ({
        origin,
        spec: specOf(event.data.table),
        op: event.data.op as ChangeOp,
        rows: event.data.rows as Row[],
        sequence: event.data.sequence as number,
        eventTime: new Date(event.time),
      }));
      outcome = await applyIncomingChanges(tx, changes, recordChange);
    });
    observe(fresh);
    return { ...outcome, duplicates: events.length - fresh.length };
  }

  async function applyWithSnapshot(event: ChangedEvent) {
    if (await alreadyApplied(event.id)) return { applied: 0, skipped: 0, duplicates: 1 };
    const spec = specOf(event.data.table);
    // The call to the owner happens here, outside the transaction below.
    const snapshot = await fetchOwnerTable(ownerApi, spec);
    let outcome: ApplyOutcome = { applied: 0, skipped: 0 };
    let duplicates = 0;
    await database.db.transaction(async (txAny) => {
      const tx = txAny as unknown as Database;
      if (!(await claim(tx, event.id))) {
        duplicates = 1;
        return;
      }
      outcome = await applySnapshot(
        tx,
        { origin, spec, snapshot, sequence: event.data.sequence, eventTime: new Date(event.time) },
        recordChange,
      );
    });
    if (!duplicates) observe([event]);
    logger.info(
      { consumer: name, table: spec.resource, rows: snapshot.length, ...outcome },
      "sync: table re-read from its owner",
    );
    return { ...outcome, duplicates };
  }

  /** Splits the batch into runs applied in one transaction each, and re-reads on their own. */
  async function handleBatch(batch: JsMsg[]) {
    const parsed: { msg: JsMsg; event: ChangedEvent }[] = [];
    for (const msg of batch) {
      try {
        parsed.push({ msg, event: readEnvelope(msg.headers, msg.data) as ChangedEvent });
      } catch (error) {
        metrics?.events.inc({ origin, outcome: "malformed" });
        logger.error({ err: error, consumer: name, seq: msg.seq }, "sync: malformed event; terminated");
        msg.term();
      }
    }
    let i = 0;
    while (i < parsed.length) {
      const first = parsed[i] as { msg: JsMsg; event: ChangedEvent };
      let run: typeof parsed;
      if (needsSnapshot(first.event.data)) run = [first];
      else {
        let j = i;
        while (j < parsed.length && !needsSnapshot((parsed[j] as (typeof parsed)[0]).event.data)) j++;
        run = parsed.slice(i, j);
      }
      try {
        const outcome =
          run.length === 1 && needsSnapshot(first.event.data)
            ? await applyWithSnapshot(first.event)
            : await applyRun(run.map((p) => p.event));
        for (const { msg } of run) msg.ack();
        metrics?.events.inc({ origin, outcome: "applied" }, run.length - outcome.duplicates);
        if (outcome.duplicates) metrics?.events.inc({ origin, outcome: "duplicate" }, outcome.duplicates);
        logger.debug({ consumer: name, events: run.length, ...outcome }, "sync: applied");
      } catch (error) {
        // Nothing of this run committed; it and the rest of the batch come back.
        const rest = parsed.slice(i);
        metrics?.events.inc({ origin, outcome: "failed" }, rest.length);
        const deliveries = first.msg.info.deliveryCount;
        const delay = backoffDelayMs(RETRY_BACKOFF, deliveries);
        logger.warn(
          { err: error, consumer: name, id: first.event.id, deliveries, retryInMs: delay },
          "sync: apply failed; will retry",
        );
        for (const { msg } of rest) msg.nak(delay);
        return;
      }
      i += run.length;
    }
  }

  const pull = runBatchedPull({
    nats,
    namespace,
    stream: streamNames(namespace).events,
    name,
    filterSubject: subjectOf(namespace, "reference.changed", origin),
    ackWaitMs,
    maxDeliver,
    batchSize,
    logger,
    handleBatch,
  });

  return {
    async start() {
      if (running) return;
      running = true;
      pull.start();
      logger.info({ consumer: name, origin }, "sync: consuming the write owner's reference.changed");
    },
    async stop() {
      if (!running) return;
      running = false;
      await pull.stop();
      await lagReporter?.flush();
      logger.info({ consumer: name, origin }, "sync: stopped");
    },
  };
}

/** p-th percentile (0..1) of sorted values, nearest rank. */
const percentile = (sorted: number[], p: number) =>
  sorted.length === 0
    ? null
    : (sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number);

/**
 * The lag of the changes applied over the last `windowMs`, written to KV at most every `everyMs` (never in the
 * apply's way: a failed write, NATS down, is logged and retried with the next batch).
 */
function createLagReporter({
  state,
  route,
  origin,
  consumer,
  logger,
  everyMs = 1000,
  windowMs = 5 * 60_000,
}: {
  state: Pick<DatasyncState, "saveLag">;
  route: string;
  origin: string;
  consumer: string;
  logger: Pick<Logger, "debug">;
  everyMs?: number;
  windowMs?: number;
}) {
  const samples: { at: number; seconds: number }[] = [];
  let lastReport = 0;
  let writing: Promise<void> | undefined;
  let dirty = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  function report(now: number) {
    while (
      samples.length > 0 &&
      ((samples[0] as { at: number }).at < now - windowMs || samples.length > 20_000)
    )
      samples.shift();
    const sorted = samples.map((s) => s.seconds * 1000).sort((a, b) => a - b);
    lastReport = now;
    dirty = false;
    writing = state
      .saveLag(route, {
        origin,
        consumer,
        at: new Date(now).toISOString(),
        changes: sorted.length,
        windowSeconds: windowMs / 1000,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
      })
      .catch((error) => {
        dirty = true;
        logger.debug({ err: error, consumer }, "sync: lag report not written; next batch retries");
      })
      .finally(() => {
        writing = undefined;
      });
  }
  return {
    observe(at: number, seconds: number) {
      samples.push({ at, seconds });
      dirty = true;
    },
    maybeReport(now: number) {
      if (dirty && !writing && now - lastReport >= everyMs) report(now);
      // The last changes of a burst are reported too, once the interval has passed.
      else if (dirty && !timer) {
        timer = setTimeout(
          () => {
            timer = undefined;
            this.maybeReport(Date.now());
          },
          Math.max(10, everyMs - (now - lastReport)),
        );
        timer.unref?.();
      }
    },
    async flush() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await writing;
      if (dirty) report(Date.now());
      await writing;
    },
  };
}
