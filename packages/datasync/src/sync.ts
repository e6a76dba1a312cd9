import { type Database, type DatabaseHandle, rowsOf } from "@fig/db";
import {
  type EventData,
  type EventType,
  type FigEvent,
  inbox,
  type NatsClient,
  readMessageEnvelope,
  runBatchedPull,
  streamNames,
  subjectOf,
} from "@fig/events";
import { type Backoff, backoffDelayMs } from "@fig/retry";
import type { JsMsg } from "@nats-io/jetstream";
import { and, eq, sql } from "drizzle-orm";
import type { Logger } from "pino";
import { Counter, Histogram, type Registry } from "prom-client";
import {
  type ApplyHooks,
  type ApplyOutcome,
  applyIncomingChanges,
  applySnapshot,
  type ChangeOp,
  type PrepareRow,
  type RepublishChange,
} from "./apply.ts";
import { type DeclaredTable, type ResolvedTable, type Row, resolveTables } from "./declared-table.ts";
import type { DatasyncState } from "./state.ts";

/** Every row-change event (`data.changed`, and a system's own of the same shape) reads as this. */
type ChangeData = EventData<"data.changed">;
type ChangedEvent = Omit<FigEvent, "data"> & { data: ChangeData };

export type LiveSyncOptions = {
  /** Durable consumer name (the route's `fig.data.consumers`, default `<this side>-<route>-sync`). */
  name: string;
  /** Whose changes to apply: the upstream that publishes them (on its own subject). */
  origin: string;
  /** The change event the route declares (`fig.data.event`, default `data.changed`). */
  event?: EventType;
  /** The tables the route declares; events of any other table are refused (terminated, logged). */
  tables: readonly DeclaredTable[];
  database: DatabaseHandle;
  nats: NatsClient;
  namespace: string;
  logger: Pick<Logger, "info" | "warn" | "error" | "debug">;
  /** The origin's whole table, re-read when an event is truncated or carries no rows (e.g. its list API). */
  readOwnerTable?: (table: string, signal?: AbortSignal) => Promise<Row[]>;
  /** The service's own event for what was applied (its consumers hear about synced changes too). */
  republish?: RepublishChange;
  /** Fills a derived column the published rows lack. */
  prepareRow?: PrepareRow;
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
      help: "Change events taken by the live sync, by outcome (applied, duplicate, failed, malformed)",
      labelNames: ["origin", "outcome"],
      registers: [registry],
    }),
  };
}

/** An event the applier cannot use as is: no rows (truncated, or an older keys-only one), or rows without versions. */
export function needsSnapshot(data: ChangeData, table?: DeclaredTable): boolean {
  const versions = table ? [table.version, table.updatedAt].filter((c) => c !== undefined) : [];
  return (
    data.truncated ||
    data.sequence === undefined ||
    data.rows === undefined ||
    (data.rows.length === 0 && data.count > 0) ||
    data.rows.some((r) => versions.some((c) => r[c] === undefined))
  );
}

export type LiveSync = {
  start(): Promise<void>;
  /** Stops pulling; what was received is applied (and acked) first. */
  stop(): Promise<void>;
};

/** Redelivery after a failed apply: 200 ms, doubling, up to 10 s (the one backoff rule, @fig/retry). */
const RETRY_BACKOFF: Backoff = { initialMs: 200, maxMs: 10_000 };

/**
 * The live sync: a durable JetStream consumer of the origin's change event (the route's `fig.data.event`)
 * that applies the carried rows of the declared tables to this database. Per batch: one transaction records the
 * events in the inbox in one statement (a redelivery is applied once) and applies them set-based
 * (`applyIncomingChanges`: one locking read, one write for every table, one republish per table and op); acks
 * follow the commit. An event without rows is turned into a
 * re-read of that table from the origin's API, fetched BEFORE its transaction (never inside it). A failure
 * naks the failed event and everything after it in the batch; per-key sequences make any reordering on
 * redelivery harmless (an overtaken change is skipped as stale).
 */
export function createLiveSync({
  name,
  origin,
  event = "data.changed",
  tables,
  database,
  nats,
  namespace,
  logger,
  readOwnerTable,
  republish,
  prepareRow,
  metrics,
  lagReport,
  batchSize = 200,
  ackWaitMs = 30_000,
  maxDeliver = 1000,
}: LiveSyncOptions): LiveSync {
  let running = false;
  const hooks: ApplyHooks = { republish, prepareRow };
  // The tables' columns as this database has them, read once (again after a failure).
  let resolved: Promise<ResolvedTable[]> | undefined;
  const resolvedTables = () => {
    resolved ??= resolveTables(database.db, tables, name).catch((error) => {
      resolved = undefined;
      throw error;
    });
    return resolved;
  };
  async function tableOf(table: string): Promise<ResolvedTable> {
    const found = (await resolvedTables()).find((t) => t.name === table);
    if (!found) throw new UndeclaredTable(table);
    return found;
  }
  const declared = (table: string) => tables.find((t) => t.name === table);

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

  /**
   * Inbox first, one statement for the run: the ids not seen before (a redelivery is applied once). The ids go
   * as one jsonb parameter: a row of parameters per id costs building and parsing for every event.
   */
  async function claimAll(tx: Database, ids: string[]) {
    const fresh = rowsOf<{ id: string }>(
      await tx.execute(sql`insert into inbox (consumer, event_id)
        select ${name}, x from jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb) as x
        on conflict do nothing returning event_id as id`),
    );
    return new Set(fresh.map((r) => r.id));
  }

  async function applyRun(events: ChangedEvent[]): Promise<ApplyOutcome & { duplicates: number }> {
    let outcome: ApplyOutcome = { applied: 0, skipped: 0 };
    const byName = new Map((await resolvedTables()).map((t) => [t.name, t]));
    let fresh: ChangedEvent[] = [];
    await database.db.transaction(async (txAny) => {
      const tx = txAny as unknown as Database;
      const claimed = await claimAll(tx, [...new Set(events.map((e) => e.id))]);
      fresh = events.filter((e) => claimed.delete(e.id));
      const changes = fresh.map((event) => ({
        origin,
        table: byName.get(event.data.table) as ResolvedTable,
        op: event.data.op as ChangeOp,
        rows: event.data.rows as Row[],
        sequence: event.data.sequence as number,
        eventTime: new Date(event.time),
      }));
      outcome = await applyIncomingChanges(tx, changes, hooks);
    });
    observe(fresh);
    return { ...outcome, duplicates: events.length - fresh.length };
  }

  async function applyWithSnapshot(event: ChangedEvent) {
    if (await alreadyApplied(event.id)) return { applied: 0, skipped: 0, duplicates: 1 };
    const table = await tableOf(event.data.table);
    if (!readOwnerTable)
      throw new Error(
        `${event.data.table}: the event carries no rows and there is no owner to re-read it from`,
      );
    // The call to the owner happens here, outside the transaction below.
    const snapshot = await readOwnerTable(table.name);
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
        { origin, table, snapshot, sequence: event.data.sequence, eventTime: new Date(event.time) },
        hooks,
      );
    });
    if (!duplicates) observe([event]);
    logger.info(
      { consumer: name, table: table.name, rows: snapshot.length, ...outcome },
      "sync: table re-read from its owner",
    );
    return { ...outcome, duplicates };
  }

  /** Splits the batch into runs applied in one transaction each, and re-reads on their own. */
  async function handleBatch(batch: JsMsg[]) {
    const parsed: { msg: JsMsg; event: ChangedEvent }[] = [];
    for (const msg of batch) {
      try {
        // The raw header block in one pass, rather than nats.js's MsgHdrs (a few µs per event).
        const event = readMessageEnvelope(msg) as unknown as ChangedEvent;
        if (!declared(event.data.table)) throw new UndeclaredTable(event.data.table);
        parsed.push({ msg, event });
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
      const snapshotFor = (p: (typeof parsed)[0]) =>
        needsSnapshot(p.event.data, declared(p.event.data.table));
      if (snapshotFor(first)) run = [first];
      else {
        let j = i;
        while (j < parsed.length && !snapshotFor(parsed[j] as (typeof parsed)[0])) j++;
        run = parsed.slice(i, j);
      }
      try {
        const outcome =
          run.length === 1 && snapshotFor(first)
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
    filterSubject: subjectOf(namespace, event, origin),
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
      logger.info({ consumer: name, origin, event }, "sync: consuming the write owner's changes");
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

/** An event of a table the route does not declare: never applied (the consumer terminates it). */
class UndeclaredTable extends Error {
  constructor(table: string) {
    super(`table ${table} is not declared in the route's fig.data`);
  }
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
