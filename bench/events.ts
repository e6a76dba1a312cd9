/**
 * events benchmarks (packages/events), on a real Postgres server and a real NATS JetStream server. The relay
 * and the consumer run in this process, as services run them. Prints, each with how it was measured:
 *
 *   throughput — (i) live: N events enqueued in transactions of 100 (a few writers at once, as fast as they
 *                go) while the relay and one consumer run; events/s from the first BEGIN until the consumer
 *                has committed the N-th effect, and the relay's publish rate. Goals ≥ 5k events/s, and
 *                ≥ 35 % of raw publish + consume at once: raw runs just before and just after the live
 *                run (the ratio to their mean), and again in the raw section (that ratio printed there).
 *                (ii) stage by stage, on a backlog: enqueue N (relay stopped), relay.flush() them all
 *                (consumer stopped), then start the consumer and time it through the N messages.
 *   latency    — one event per transaction at a steady 1k events/s (10 every 10 ms by the wall clock) for
 *                --duration s after a 1 s warmup: commit → handled p50/p99 (handled = the consumer's apply
 *                transaction has committed), with the stages in between. Goal p99 ≤ 50 ms. Beside it, the
 *                same at 100 events/s (a rate the pipeline sustains here): the latency of the path itself.
 *   raw        — the same machine with the bare @nats-io client: publish N (acks awaited in windows of 500)
 *                to a fresh stream, consume them with a durable pull consumer acking each, then both at once;
 *                and the ratios ours/raw.
 * The consumer is given a batchHandler (one effects insert per transaction), as a service that writes
 * one row per event would adopt it.
 *
 * Goals are printed, never asserted: the exit code is non-zero only when something did not work (an event
 * was lost or applied twice, a stage timed out, cleanup failed).
 *
 * Usage (from the repository root):
 *   bun bench/events.ts [--only throughput|latency|raw[,…]] [--events 20000] [--duration 10]
 * Env: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres): a server
 * where this user may CREATE DATABASE; BENCH_NATS_URL (else NATS_URL, else 127.0.0.1:4222): a JetStream server.
 * Databases are named fig_bench_events_*_<random> and dropped at the end; streams live in namespaces
 * bench<random><section> and are deleted at the end (also after a failure or Ctrl-C).
 */
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { createDatabase, type Database, type DatabaseHandle } from "../packages/db/src/index.ts";
// The NATS client and drizzle are dependencies of packages/events, not of the root: import them from there.
import {
  AckPolicy,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from "../packages/events/node_modules/@nats-io/jetstream/lib/mod.js";
import { connect } from "../packages/events/node_modules/@nats-io/transport-node/lib/mod.js";
import { count, isNull } from "../packages/events/node_modules/drizzle-orm";
import {
  createEventConsumer,
  createNatsClient,
  createOutboxRelay,
  deleteStreams,
  type EventConsumer,
  type EventData,
  type EventToEnqueue,
  enqueueEvent,
  enqueueEvents,
  type NatsClient,
  type OutboxRelay,
  streamConfigs,
  streamNames,
} from "../packages/events/src/index.ts";
// The bench publishes Dash's reference.changed, declared in Dash's code.
import "../packages/dash/reference/src/event-catalog.ts";
import { effects, inbox, outbox } from "../packages/events/test/schema.ts";
import { cleanupOnSignals, parseFlags, parseOnly, usageError } from "./lib/cli.ts";
import { adminUrl, createBenchDatabase, dropAll, dropBenchDatabase, serverVersion } from "./lib/postgres.ts";
import {
  check,
  heading,
  int,
  kv,
  line,
  loadAverage,
  printSummary,
  problems,
  redactedHost,
  summary,
  table,
  verdict,
} from "./lib/report.ts";
import { machineCpuSeconds } from "./lib/service.ts";

const ROOT = resolve(import.meta.dir, "..");
const MIGRATIONS = join(ROOT, "packages/events/test/drizzle");
const NATS_URL = process.env.BENCH_NATS_URL ?? process.env.NATS_URL ?? "127.0.0.1:4222";
const SECTIONS = ["throughput", "latency", "raw"] as const;
type Section = (typeof SECTIONS)[number];

/** End to end is judged as a share of raw JetStream publish + consume in the same run (the machine is shared). */
const GOALS = { eventsPerS: 5000, p99Ms: 50, liveShareOfRaw: 0.35 };
/** What a service gets by default (reference-data's DB_POOL_MAX). */
const POOL_MAX = 10;
const EVENTS_PER_TX = 100;
/** Transactions of 100 in flight at once in the throughput producer (services write from many requests). */
const WRITERS = 4;
const LATENCY_RATE = 1000;
/** A rate the pipeline sustains here, measured beside the goal: the latency of the path itself. */
const LATENCY_REFERENCE_RATE = 100;
const LATENCY_TICK_MS = 10;
const LATENCY_WARMUP_S = 1;
const RAW_WINDOW = 500;
const CONSUMER = "bench";
const TYPE = "reference.changed";
/** A run id: namespaces are bench<RUN><section>, unique on a shared NATS server. */
const RUN = crypto.randomUUID().replace(/-/g, "").slice(0, 8);

// ─── arguments ──────────────────────────────────────────────────────────────────────────────────────────────

const USAGE = `usage: bun bench/events.ts [--only throughput|latency|raw[,…]] [--events <n>] [--duration <seconds>] [--enqueue batch|each]
  --only       run only these figures (comma-separated); default: all three
  --enqueue    how "throughput" writes its transactions of ${EVENTS_PER_TX}: one enqueueEvents statement (batch, default),
               or ${EVENTS_PER_TX} enqueueEvent statements (each)
  --events     events for "throughput" and messages for "raw" (default 20000, at least ${EVENTS_PER_TX})
  --duration   seconds measured at ${int(LATENCY_RATE)} events/s for "latency" (default 10; a ${LATENCY_WARMUP_S} s warmup comes first;
               the ${LATENCY_REFERENCE_RATE} events/s reference runs min(duration, 5) s)`;

function readArgs(): { only: Section[]; events: number; duration: number; enqueue: "batch" | "each" } {
  const values = parseFlags(USAGE, ["only", "events", "duration", "enqueue"]);
  const only = parseOnly(USAGE, SECTIONS, values.only);
  const events = Number(values.events ?? 20_000);
  if (!Number.isInteger(events) || events < EVENTS_PER_TX)
    usageError(USAGE, `--events must be an integer ≥ ${EVENTS_PER_TX}`);
  const duration = Number(values.duration ?? 10);
  if (!Number.isFinite(duration) || duration < 1)
    usageError(USAGE, "--duration must be a number of seconds ≥ 1");
  const enqueue = values.enqueue ?? "batch";
  if (enqueue !== "batch" && enqueue !== "each") usageError(USAGE, "--enqueue must be batch or each");
  return { only, events, duration, enqueue };
}

// ─── shared helpers ─────────────────────────────────────────────────────────────────────────────────────────

/** Figures the raw section compares against: events/s of our layer, by stage. */
const ours: { live?: number; relay?: number; consumer?: number } = {};
/** Raw publish + consume at once, measured just before and just after the live run (mean of the two). */
let rawBesideLive: number | undefined;

const rate = (n: number, ms: number) => (n * 1000) / ms;
const perS = (n: number, ms: number) => `${int(rate(n, ms))}/s`;
const fmtMs = (v: number) => (v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
const fmtS = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

type Logger = Parameters<typeof createOutboxRelay>[0]["logger"];
/** Silent, except that warnings and errors from the relay and the consumer are kept (and printed). */
const warnings: string[] = [];
const logger = {
  info() {},
  debug() {},
  warn(obj: unknown, msg?: string) {
    warnings.push(`warn: ${msg ?? ""} ${errorText(obj)}`);
  },
  error(obj: unknown, msg?: string) {
    warnings.push(`error: ${msg ?? ""} ${errorText(obj)}`);
  },
} as unknown as Logger;

function errorText(obj: unknown): string {
  const err = (obj as { err?: Error } | undefined)?.err;
  return err ? `(${err.message})` : "";
}

function reportWarnings(from: number) {
  const fresh = warnings.slice(from);
  if (fresh.length === 0) return;
  check(false, `${fresh.length} relay/consumer warning(s) during the run, first: ${fresh[0]}`);
}

const data = (i: number): EventData<typeof TYPE> => ({
  table: "codes",
  op: "created",
  keys: [String(i)],
  count: 1,
  truncated: false,
});

type CpuSample = { self: number; machine: number; pids: Map<number, { group: CpuGroup; seconds: number }> };
type CpuGroup = "postgres (this database)" | "postgres (background)" | "nats-server";
const CLOCK_TICKS = 100; // USER_HZ

/** CPU seconds so far of Postgres processes (split by this database / background) and of nats-server, from /proc. */
function sampleCpu(database: string | undefined): CpuSample {
  const pids = new Map<number, { group: CpuGroup; seconds: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      let group: CpuGroup | undefined;
      if (comm === "nats-server") group = "nats-server";
      else if (comm === "postgres") {
        // "postgres: 15/main: <user> <database> <host>(<port>) <state>" for a client backend.
        const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
        if (database && cmdline.includes(` ${database} `)) group = "postgres (this database)";
        else if (!cmdline.includes("(")) group = "postgres (background)";
      }
      if (!group) continue;
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      pids.set(Number(entry), { group, seconds: (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS });
    } catch {
      // gone meanwhile
    }
  }
  const u = process.cpuUsage();
  return { self: (u.user + u.system) / 1e6, machine: machineCpuSeconds().busy, pids };
}

/**
 * Where the CPU went during a stretch: this process (producer + relay + consumer, or the raw client), the
 * Postgres backends of this run's database, Postgres's background processes (WAL writer…), nats-server, and
 * the rest of the machine (other work: the figures are only clean when that is ≈ 0).
 */
function cpuMeter(database?: string) {
  const before = sampleCpu(database);
  return (wallMs: number, events?: number) => {
    const after = sampleCpu(database);
    const groups = new Map<string, number>();
    for (const [pid, now] of after.pids)
      groups.set(
        now.group,
        (groups.get(now.group) ?? 0) + now.seconds - (before.pids.get(pid)?.seconds ?? 0),
      );
    const self = after.self - before.self;
    const known = self + [...groups.values()].reduce((a, b) => a + b, 0);
    const rest = Math.max(0, after.machine - before.machine - known);
    const cores = (s: number) => ((s * 1000) / wallMs).toFixed(2);
    const parts = [`bench process ${cores(self)}`];
    for (const group of ["postgres (this database)", "postgres (background)", "nats-server"] as const)
      if (groups.has(group)) parts.push(`${group} ${cores(groups.get(group) ?? 0)}`);
    parts.push(`rest of machine ${cores(rest)}`);
    // CPU per event moves far less with other work on the machine than events/s does.
    const perEvent = events
      ? `; ${Math.round((known * 1e6) / events)} µs CPU per event (all but the rest)`
      : "";
    return `${parts.join(" · ")} (cores, of ${availableParallelism()})${perEvent}`;
  };
}

// ─── resources, remembered for cleanup ─────────────────────────────────────────────────────────────────────

const namespaces = new Set<string>();
const closers: (() => Promise<unknown>)[] = [];
let adminNats: NatsClient | undefined;

function namespaceFor(section: string): string {
  const ns = `bench${RUN}${section}`;
  namespaces.add(ns);
  return ns;
}

type BenchDatabase = DatabaseHandle & {
  name: string;
  /** A second pool on the same database for the consumer, as a consuming service would have its own. */
  consumerSide: DatabaseHandle;
  /** The relay's own small pool, as runService gives it, so it never waits behind the producer's writers. */
  relaySide: DatabaseHandle;
  closeAll(): Promise<void>;
};

/**
 * A fresh database with the events test schema (outbox, inbox, effects) and two pools of POOL_MAX: one for
 * the producing side (enqueueEvent, as in reference-data) and one for the consumer; and the relay's own pool of
 * 2, as runService opens it beside the service's.
 */
async function benchDatabase(what: string): Promise<BenchDatabase> {
  const created = await createBenchDatabase(`events_${what}`);
  const open = (side: string, poolMax = POOL_MAX) =>
    createDatabase({ service: `bench-events-${side}`, url: created.url, poolMax });
  const handle = await open("producer");
  const consumerSide = await open("consumer");
  const relaySide = await open("relay", 2);
  closers.push(
    () => handle.close(),
    () => consumerSide.close(),
    () => relaySide.close(),
  );
  await handle.migrate(MIGRATIONS);
  return {
    ...handle,
    name: created.name,
    consumerSide,
    relaySide,
    async closeAll() {
      await handle.close().catch(() => {});
      await consumerSide.close().catch(() => {});
      await relaySide.close().catch(() => {});
    },
  };
}

function natsClient(name: string): NatsClient {
  const client = createNatsClient({ servers: NATS_URL, name });
  closers.push(() => client.close());
  return client;
}

async function closeQuietly(what: { close(): Promise<unknown> }) {
  await what.close().catch(() => {});
}

/** Polls `probe` until truthy; throws at the deadline. */
async function until<T>(
  probe: () => Promise<T> | T,
  timeoutMs: number,
  what: string,
): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${fmtS(timeoutMs)} waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** Resolves when `done()` is true, or with false after `timeoutMs` without progress in `progress()`. */
async function waitFor(done: () => boolean, progress: () => number, stallMs: number): Promise<boolean> {
  let last = progress();
  let lastChange = performance.now();
  while (!done()) {
    await Bun.sleep(2);
    const now = progress();
    if (now !== last) {
      last = now;
      lastChange = performance.now();
    } else if (performance.now() - lastChange > stallMs) return false;
  }
  return true;
}

/**
 * The pipeline as services run it: relay (on the producing side's pool) + one consumer (on its own pool) whose
 * batchHandler inserts the batch's `effects` rows in one statement.
 * Timestamps (performance.now(), this process) per event id:
 *   published — the relay's batch was acked by JetStream (its `afterPublish` hook, before marking sent);
 *   entered   — the consumer's handler was called (inside the apply transaction, before COMMIT);
 *   handled   — the consumer's apply transaction has COMMITTED: the consumer gets a DatabaseHandle whose
 *               db.transaction is wrapped to stamp the moment drizzle's transaction() resolves (COMMIT
 *               answered); the consumer acks right after. No polling, no extra query.
 */
function pipeline(database: BenchDatabase, nats: NatsClient, namespace: string, keepTimes: boolean) {
  const published = new Map<string, number>();
  const entered = new Map<string, number>();
  const handled = new Map<string, number>();
  const batches: { at: number; n: number }[] = [];
  /** Events per consumer transaction that applied any. */
  const applied: number[] = [];
  let handledCount = 0;
  let lastHandledAt = 0;
  let firstHandledAt = 0;
  // Events applied in each consumer transaction (one, or a batch): all are handled when it commits.
  const txEvents = new WeakMap<object, string[]>();

  const relay: OutboxRelay = createOutboxRelay({
    database: database.relaySide,
    nats,
    namespace,
    logger,
    afterPublish(ids) {
      const at = performance.now();
      batches.push({ at, n: ids.length });
      if (keepTimes) for (const id of ids) published.set(id, at);
    },
  });

  const real = database.consumerSide.db;
  const transaction = (async (fn: (tx: Database) => Promise<unknown>, config?: unknown) => {
    let ids: string[] = [];
    const result = await real.transaction(async (tx) => {
      const out = await fn(tx as unknown as Database);
      ids = txEvents.get(tx) ?? [];
      return out;
    }, config as never);
    if (ids.length > 0) {
      const at = performance.now();
      applied.push(ids.length);
      if (handledCount === 0) firstHandledAt = at;
      handledCount += ids.length;
      lastHandledAt = at;
      if (keepTimes) for (const id of ids) handled.set(id, at);
    }
    return result;
  }) as Database["transaction"];
  const db = new Proxy(real, {
    get: (target, prop) => (prop === "transaction" ? transaction : Reflect.get(target, prop, target)),
  });

  const consumer: EventConsumer = createEventConsumer({
    name: CONSUMER,
    type: TYPE,
    database: { ...database.consumerSide, db },
    nats,
    namespace,
    logger,
    // The batch form: one effects insert per transaction, as a service adopting it would write.
    batchHandler: async (events, tx) => {
      const at = performance.now();
      const ids = txEvents.get(tx) ?? [];
      for (const event of events) {
        if (keepTimes) entered.set(event.id, at);
        ids.push(event.id);
      }
      txEvents.set(tx, ids);
      await tx.insert(effects).values(events.map((event) => ({ event_id: event.id })));
    },
  });

  return {
    relay,
    consumer,
    published,
    entered,
    handled,
    batches,
    applied,
    get handledCount() {
      return handledCount;
    },
    get firstHandledAt() {
      return firstHandledAt;
    },
    get lastHandledAt() {
      return lastHandledAt;
    },
  };
}

/**
 * How a producer transaction writes its events: one `enqueueEvents` statement (a batch writer, such as an
 * import or a backfill), or one `enqueueEvent` each (a writer that records events one by one).
 */
let enqueueMode: "batch" | "each" = "batch";
const enqueueWording = () =>
  enqueueMode === "batch" ? "one enqueueEvents statement per transaction" : "one enqueueEvent per event";

/** Enqueues `n` events in transactions of `perTx`, `writers` transactions in flight at once. */
async function produce(db: Database, n: number, perTx: number, writers: number, from = 0): Promise<void> {
  let next = from;
  const end = from + n;
  async function writer() {
    while (next < end) {
      const first = next;
      const last = Math.min(end, first + perTx);
      next = last;
      await db.transaction(async (tx) => {
        if (enqueueMode === "batch") {
          const batch: EventToEnqueue[] = [];
          for (let i = first; i < last; i++) batch.push({ type: TYPE, data: data(i) });
          await enqueueEvents(tx, batch);
        } else for (let i = first; i < last; i++) await enqueueEvent(tx, TYPE, data(i));
      });
    }
  }
  await Promise.all(Array.from({ length: writers }, writer));
}

/** Rows in effects / inbox / pending outbox, read once at the end of a run. */
async function tally(db: Database) {
  const [e] = await db.select({ n: count() }).from(effects);
  const [d] = await db.select({ n: count() }).from(inbox);
  const [p] = await db.select({ n: count() }).from(outbox).where(isNull(outbox.sent_at));
  return { effects: e?.n ?? 0, inbox: d?.n ?? 0, pending: p?.n ?? 0 };
}

async function consumerInfo(namespace: string, name: string) {
  adminNats ??= createNatsClient({ servers: NATS_URL, name: "bench-events-admin" });
  const jsm = await adminNats.manager();
  return jsm.consumers.info(streamNames(namespace).events, name).catch(() => undefined);
}

/** Stall limit while waiting for a stage: no progress for this long means it is stuck. */
const STALL_MS = 15_000;

// ─── throughput ────────────────────────────────────────────────────────────────────────────────────────────

async function benchThroughput(n: number) {
  heading(`throughput (i): outbox → relay → consumer, live, ${int(n)} events`);
  line(
    `  How: fresh database (outbox, inbox, effects), fresh namespace, two pools of ${POOL_MAX} (producer |`,
  );
  line(
    "  consumer, as two services would have) and the relay's own pool of 2 (as runService opens it). The relay",
  );
  line(
    `  (createOutboxRelay, defaults: batch 500, the next batch claimed while one is acked, poll 1 s + NOTIFY)`,
  );
  line(
    `  and one consumer (createEventConsumer, defaults: batch 250; batchHandler inserts one effects row per`,
  );
  line(`  event, one insert per batch) run in this process.`);
  line("  Warmup: 100 events through the pipeline.");
  line(
    `  Then ${int(n)} events are enqueued in transactions of ${EVENTS_PER_TX} (${enqueueWording()}), ${WRITERS} transactions`,
  );
  line(`  in flight at once, as fast as they go. Clock: first BEGIN → the consumer's ${int(n)}-th apply`);
  line(
    `  transaction committed (in-memory, via a wrapped db.transaction; checked against count(effects) after).`,
  );
  line("  Beside it, raw publish + consume at once (as in the raw section, its own stream) runs just before");
  line("  and just after: the anchor under the same load, on a machine whose load drifts.");
  const database = await benchDatabase("live");
  const namespace = namespaceFor("live");
  const nats = natsClient("bench-events-live");
  const p = pipeline(database, nats, namespace, false);
  const warnFrom = warnings.length;
  try {
    const rawBefore = await rawLiveBeside(n, "before");
    await p.relay.start();
    await p.consumer.start();
    await produce(database.db, EVENTS_PER_TX, EVENTS_PER_TX, 1, 0);
    if (
      !(await waitFor(
        () => p.handledCount >= EVENTS_PER_TX,
        () => p.handledCount,
        STALL_MS,
      ))
    )
      throw new Error(`warmup: only ${p.handledCount}/${EVENTS_PER_TX} events handled`);
    const warm = p.handledCount;
    const batchesBefore = p.batches.length;
    const appliedBefore = p.applied.length;

    const cpu = cpuMeter(database.name);
    const t0 = performance.now();
    await produce(database.db, n, EVENTS_PER_TX, WRITERS, EVENTS_PER_TX);
    const tProduced = performance.now();
    const finished = await waitFor(
      () => p.handledCount >= warm + n,
      () => p.handledCount,
      STALL_MS,
    );
    const tDone = performance.now();
    const cpuSplit = cpu(tDone - t0, n);
    const done = p.handledCount - warm;

    const batches = p.batches.slice(batchesBefore);
    const publishedN = batches.reduce((s, b) => s + b.n, 0);
    const lastPublish = batches.at(-1)?.at ?? tDone;
    const sizes = batches.map((b) => b.n).sort((a, b) => a - b);
    line();
    kv("producer: all committed", `${fmtS(tProduced - t0)} (${perS(n, tProduced - t0)})`);
    kv(
      "relay: all published (acked)",
      `+${fmtS(lastPublish - t0)} (${perS(publishedN, lastPublish - t0)}); ${batches.length} batches, median ${percentile(sizes, 50)}, max ${sizes.at(-1)} events`,
    );
    const appliedSizes = p.applied.slice(appliedBefore).sort((a, b) => a - b);
    kv(
      "consumer: all applied (committed)",
      `+${fmtS(tDone - t0)}; ${appliedSizes.length} transactions, median ${percentile(appliedSizes, 50)}, max ${appliedSizes.at(-1)} events`,
    );
    kv("end to end", `${perS(done, tDone - t0)}   goal ≥ ${int(GOALS.eventsPerS)}/s`);
    kv(
      "  lag after the last commit",
      `${fmtS(tDone - tProduced)} (the consumer drains at ${perS(done, tDone - p.firstHandledAt)} over the run)`,
    );
    kv("  CPU during the run", cpuSplit);

    await p.consumer.stop();
    await p.relay.stop();
    const rawAfter = await rawLiveBeside(n, "after");
    rawBesideLive = (rawBefore + rawAfter) / 2;
    kv(
      "raw publish + consume at once, beside",
      `${int(rawBefore)}/s before, ${int(rawAfter)}/s after: ours ${((rate(done, tDone - t0) / rawBesideLive) * 100).toFixed(1)} % of their mean   goal ≥ ${GOALS.liveShareOfRaw * 100} %`,
    );
    const counts = await tally(database.db);
    check(finished, `live: the consumer stalled at ${done}/${n} events`);
    check(
      counts.effects === warm + n && counts.inbox === warm + n && counts.pending === 0,
      `live: expected ${warm + n} effects and inbox rows and 0 pending, got ${JSON.stringify(counts)}`,
    );
    reportWarnings(warnFrom);
    ours.live = rate(done, tDone - t0);
    const share = ours.live / rawBesideLive;
    summary.push(
      {
        figure: `Outbox → consumer, live (${int(n)} events, ${EVENTS_PER_TX}/tx)`,
        result: `${perS(done, tDone - t0)} end to end (${fmtS(tDone - t0)})`,
        goal: `≥ ${int(GOALS.eventsPerS)}/s`,
        verdict: verdict(rate(done, tDone - t0) >= GOALS.eventsPerS),
      },
      {
        figure: `  producer (enqueue, ${EVENTS_PER_TX}/tx, ${WRITERS} writers)`,
        result: perS(n, tProduced - t0),
        goal: "—",
        verdict: "",
      },
      {
        figure: "  relay publish rate (live)",
        result: perS(publishedN, lastPublish - t0),
        goal: "—",
        verdict: "",
      },
      {
        figure: "  ours/raw end to end, raw run just before and after",
        result: `${(share * 100).toFixed(1)} % of ${perS(rawBesideLive, 1000)}`,
        goal: `≥ ${GOALS.liveShareOfRaw * 100} %`,
        verdict: verdict(share >= GOALS.liveShareOfRaw),
      },
    );
  } finally {
    await p.consumer.stop().catch(() => {});
    await p.relay.stop().catch(() => {});
    await closeQuietly(nats);
    await database.closeAll();
    await dropBenchDatabase(database.name);
  }
}

async function benchStages(n: number) {
  heading(`throughput (ii): stage by stage on a backlog of ${int(n)} events`);
  line(
    `  How: fresh database and namespace. 1. enqueue ${int(n)} events (transactions of ${EVENTS_PER_TX}, ${enqueueWording()}, ${WRITERS} in flight)`,
  );
  line(`  with nothing running; 2. relay.flush() (batches of 500) until the outbox is empty, consumer not`);
  line(
    `  started; 3. start the consumer (durable, deliver all) and time it to the ${int(n)}-th committed apply.`,
  );
  const database = await benchDatabase("stages");
  const namespace = namespaceFor("stages");
  const nats = natsClient("bench-events-stages");
  const p = pipeline(database, nats, namespace, false);
  const warnFrom = warnings.length;
  try {
    let cpu = cpuMeter(database.name);
    let t0 = performance.now();
    await produce(database.db, n, EVENTS_PER_TX, WRITERS);
    const produceMs = performance.now() - t0;
    const produceCpu = cpu(produceMs, n);

    cpu = cpuMeter(database.name);
    t0 = performance.now();
    const flushed = await p.relay.flush();
    const flushMs = performance.now() - t0;
    const flushCpu = cpu(flushMs, flushed);

    cpu = cpuMeter(database.name);
    t0 = performance.now();
    await p.consumer.start();
    const finished = await waitFor(
      () => p.handledCount >= n,
      () => p.handledCount,
      STALL_MS,
    );
    const consumeMs = performance.now() - t0;
    const consumeCpu = cpu(consumeMs, p.handledCount);
    await p.consumer.stop();

    line();
    kv(`1. enqueue (${EVENTS_PER_TX}/tx, ${WRITERS} writers)`, `${fmtS(produceMs)}  ${perS(n, produceMs)}`);
    kv("     CPU", produceCpu);
    kv("2. relay.flush()", `${fmtS(flushMs)}  ${perS(flushed, flushMs)} (${int(flushed)} published)`);
    kv("     CPU", flushCpu);
    kv(
      "3. consumer drain",
      `${fmtS(consumeMs)}  ${perS(p.handledCount, consumeMs)} (events applied in batches, one transaction per batch)`,
    );
    kv("     CPU", consumeCpu);
    const counts = await tally(database.db);
    check(flushed === n, `stages: relay.flush() published ${flushed}, expected ${n}`);
    check(finished, `stages: the consumer stalled at ${p.handledCount}/${n} events`);
    check(
      counts.effects === n && counts.inbox === n && counts.pending === 0,
      `stages: expected ${n} effects and inbox rows and 0 pending, got ${JSON.stringify(counts)}`,
    );
    reportWarnings(warnFrom);
    ours.relay = rate(flushed, flushMs);
    ours.consumer = rate(p.handledCount, consumeMs);
    summary.push(
      {
        figure: `  stage: enqueue only (${EVENTS_PER_TX}/tx, ${WRITERS} writers)`,
        result: perS(n, produceMs),
        goal: "—",
        verdict: "",
      },
      {
        figure: "  stage: relay.flush() of the backlog",
        result: perS(flushed, flushMs),
        goal: "—",
        verdict: "",
      },
      {
        figure: "  stage: consumer drain of the backlog",
        result: perS(p.handledCount, consumeMs),
        goal: "—",
        verdict: "",
      },
    );
  } finally {
    await p.consumer.stop().catch(() => {});
    await closeQuietly(nats);
    await database.closeAll();
    await dropBenchDatabase(database.name);
  }
}

// ─── latency ───────────────────────────────────────────────────────────────────────────────────────────────

/**
 * `target` events/s, one per transaction, for `durationS` s. With `goal`, the figure is the one the goal is
 * about; without, it is the unsaturated reference (a rate the pipeline sustains: its inherent latency).
 */
async function benchLatency(target: number, durationS: number, goal: boolean) {
  const perTick = (target * LATENCY_TICK_MS) / 1000;
  heading(
    `latency: commit → handled at a steady ${int(target)} events/s for ${durationS} s${goal ? "" : " (reference)"}`,
  );
  line("  How: fresh database and namespace; relay (defaults; pool of 10 shared with the producer) and");
  line("  consumer (own pool of 10) running in this process. A producer starts");
  line(
    `  ${perTick} transaction(s) every ${LATENCY_TICK_MS} ms on a wall-clock schedule (open loop: a slow commit does not delay`,
  );
  line(`  the next tick), each enqueueEvent-ing one event; "commit" = when db.transaction() resolved.`);
  line(
    `  "handled" = when the consumer's apply transaction (inbox + effects row) has COMMITTED — stamped by`,
  );
  line(`  wrapping the db.transaction the consumer is given, so it is after COMMIT (the handler-entry time,`);
  line(`  before COMMIT, is shown as a stage). ${LATENCY_WARMUP_S} s warmup at the same rate, excluded.`);
  const database = await benchDatabase(`latency${target}`);
  const namespace = namespaceFor(`lat${target}`);
  const nats = natsClient(`bench-events-latency-${target}`);
  const p = pipeline(database, nats, namespace, true);
  const committed = new Map<string, number>();
  const warnFrom = warnings.length;
  try {
    await p.relay.start();
    await p.consumer.start();
    await until(() => consumerInfo(namespace, CONSUMER), 10_000, "the consumer to exist");

    let lag = 0;
    let lagTimer: Timer | undefined;
    const totalTicks = Math.round(((LATENCY_WARMUP_S + durationS) * 1000) / LATENCY_TICK_MS);
    const warmupTicks = Math.round((LATENCY_WARMUP_S * 1000) / LATENCY_TICK_MS);
    const measured: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let late = 0;
    let maxInFlight = 0;
    let i = 0;
    const start = performance.now();
    let cpu = cpuMeter(database.name);
    let measureStart = start;
    {
      // Event-loop lag: how late a 5 ms timer fires (everything here shares one JS thread).
      let expected = performance.now() + 5;
      lagTimer = setInterval(() => {
        const now = performance.now();
        lag = Math.max(lag, now - expected);
        expected = now + 5;
      }, 5);
    }
    for (let tick = 0; tick < totalTicks; tick++) {
      const due = start + tick * LATENCY_TICK_MS;
      const wait = due - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      else if (wait < -LATENCY_TICK_MS) late++;
      if (tick === warmupTicks) {
        cpu = cpuMeter(database.name);
        measureStart = performance.now();
        lag = 0;
      }
      const inWindow = tick >= warmupTicks;
      for (let k = 0; k < perTick; k++) {
        const index = i++;
        const job = database.db
          .transaction((tx) => enqueueEvent(tx, TYPE, data(index)))
          .then((id) => {
            committed.set(id, performance.now());
            if (inWindow) measured.push(id);
          })
          .finally(() => inFlight.delete(job));
        inFlight.add(job);
      }
      maxInFlight = Math.max(maxInFlight, inFlight.size);
    }
    await Promise.all(inFlight);
    const produceEnd = performance.now();
    const finished = await waitFor(
      () => p.handledCount >= i,
      () => p.handledCount,
      STALL_MS,
    );
    const cpuSplit = cpu(performance.now() - measureStart);
    clearInterval(lagTimer);

    const stage = (from: Map<string, number>, to: Map<string, number>) => {
      const values: number[] = [];
      for (const id of measured) {
        const a = from.get(id);
        const b = to.get(id);
        if (a !== undefined && b !== undefined) values.push(b - a);
      }
      return values.sort((x, y) => x - y);
    };
    const total = stage(committed, p.handled);
    const toPublish = stage(committed, p.published);
    const toEnter = stage(p.published, p.entered);
    const toCommit = stage(p.entered, p.handled);
    const achieved = rate(measured.length, produceEnd - measureStart);
    const appliedInWindow = [...p.handled.values()].filter(
      (t) => t >= measureStart && t <= produceEnd,
    ).length;
    const backlog = committed.size - [...p.handled.values()].filter((t) => t <= produceEnd).length;
    const row = (name: string, v: number[]) => [
      name,
      fmtMs(percentile(v, 50)),
      fmtMs(percentile(v, 90)),
      fmtMs(percentile(v, 99)),
      fmtMs(v.at(-1) ?? Number.NaN),
    ];
    line();
    kv(
      "producer",
      `${int(measured.length)} events measured, ${int(achieved)}/s committed (target ${int(target)}/s); ${late} ticks > ${LATENCY_TICK_MS} ms late; ≤ ${maxInFlight} transactions in flight`,
    );
    kv(
      "consumer",
      `${int(rate(appliedInWindow, produceEnd - measureStart))}/s applied while producing; ${int(backlog)} committed events not yet applied when the producer stopped`,
    );
    line();
    line(
      table([
        ["  stage", "p50", "p90", "p99", "max"],
        row("  commit → handled (consumer committed)", total),
        row("    commit → published (JetStream ack)", toPublish),
        row("    published → handler entry", toEnter),
        row("    handler entry → consumer COMMIT", toCommit),
      ]),
    );
    line();
    kv(
      "relay batches (whole run)",
      `${p.batches.length}, median ${percentile(
        p.batches.map((b) => b.n).sort((a, b) => a - b),
        50,
      )} events`,
    );
    kv("event-loop lag (max, 5 ms timer)", fmtMs(lag));
    kv("CPU during the measured window", cpuSplit);
    await p.consumer.stop();
    await p.relay.stop();
    const counts = await tally(database.db);
    check(finished, `latency: the consumer stalled at ${p.handledCount}/${i} events`);
    check(
      total.length === measured.length,
      `latency: ${measured.length - total.length} measured events not handled`,
    );
    check(
      counts.effects === i && counts.inbox === i && counts.pending === 0,
      `latency: expected ${i} effects and inbox rows and 0 pending, got ${JSON.stringify(counts)}`,
    );
    reportWarnings(warnFrom);
    const p99 = percentile(total, 99);
    summary.push({
      figure: `Commit → handled at ${int(target)}/s${goal ? "" : " (reference)"}, ${durationS} s (${int(achieved)}/s committed)`,
      result: `p50 ${fmtMs(percentile(total, 50))}, p99 ${fmtMs(p99)}, max ${fmtMs(total.at(-1) ?? Number.NaN)}`,
      goal: goal ? `p99 ≤ ${GOALS.p99Ms} ms` : "—",
      verdict: goal ? verdict(p99 <= GOALS.p99Ms && achieved >= target * 0.95) : "",
    });
  } finally {
    await p.consumer.stop().catch(() => {});
    await p.relay.stop().catch(() => {});
    await closeQuietly(nats);
    await database.closeAll();
    await dropBenchDatabase(database.name);
  }
}

// ─── raw JetStream ─────────────────────────────────────────────────────────────────────────────────────────

async function rawPublish(js: JetStreamClient, subject: string, n: number, tag: string) {
  const payload = JSON.stringify(data(0));
  for (let from = 0; from < n; from += RAW_WINDOW) {
    const window: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(n, from + RAW_WINDOW); i++)
      window.push(js.publish(subject, payload, { msgID: `${tag}-${i}` }));
    await Promise.all(window);
  }
}

/** Consumes `n` messages from a durable, acking each; resolves once the server shows none unacked. */
async function rawConsume(
  js: JetStreamClient,
  jsm: JetStreamManager,
  stream: string,
  name: string,
  n: number,
) {
  const consumer = await js.consumers.get(stream, name);
  const messages = await consumer.consume({ max_messages: 256 });
  let received = 0;
  for await (const msg of messages) {
    msg.ack();
    if (++received >= n) break;
  }
  await messages.close();
  await until(
    async () => (await jsm.consumers.info(stream, name)).num_ack_pending === 0,
    10_000,
    `raw consumer ${name} to have no unacked messages`,
  );
  return received;
}

/**
 * Raw publish + consume at once (as in the raw section) on a stream of its own, run right before and right
 * after our live run: on a shared machine the load drifts within a minute, and this anchor sees the same load.
 */
async function rawLiveBeside(n: number, label: string): Promise<number> {
  const namespace = namespaceFor(`rawlive${label}`);
  const stream = streamNames(namespace).events;
  const subject = `${namespace}.events.${TYPE}`;
  const nc = await connect({ servers: NATS_URL, name: `bench-events-raw-${label}` });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const [events] = streamConfigs(namespace);
    await jsm.streams.add(events as NonNullable<typeof events>);
    await jsm.consumers.add(stream, {
      durable_name: "live",
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
    });
    const t0 = performance.now();
    const [, consumed] = await Promise.all([
      rawPublish(js, subject, n, label),
      rawConsume(js, jsm, stream, "live", n),
    ]);
    check(consumed === n, `raw beside the live run (${label}): consumed ${consumed}, expected ${n}`);
    return rate(consumed, performance.now() - t0);
  } finally {
    await nc.close().catch(() => {});
  }
}

async function benchRaw(n: number) {
  heading(`raw: bare @nats-io/jetstream on the same machine, ${int(n)} messages`);
  line(
    `  How: a connection of its own (@nats-io/transport-node connect), a fresh stream with the same config`,
  );
  line(`  as ours (file storage, 2 min duplicate window), the same JSON payload, a unique Nats-Msg-Id per`);
  line(`  message (as the relay sets) and no CloudEvents headers. Publish: acks awaited in windows of`);
  line(
    `  ${RAW_WINDOW}. Consume: durable pull consumer (explicit ack, deliver all), consume({ max_messages: 256 }),`,
  );
  line(`  msg.ack() each, done when the server shows 0 unacked. Then both at once on fresh messages.`);
  const namespace = namespaceFor("raw");
  const stream = streamNames(namespace).events;
  const subject = `${namespace}.events.${TYPE}`;
  const nc = await connect({ servers: NATS_URL, name: "bench-events-raw" });
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const [events] = streamConfigs(namespace);
    await jsm.streams.add(events as NonNullable<typeof events>);
    const durable = (name: string, deliver: DeliverPolicy) =>
      jsm.consumers.add(stream, {
        durable_name: name,
        filter_subject: subject,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: deliver,
      });

    // Warmup, not timed.
    await durable("warm", DeliverPolicy.All);
    await rawPublish(js, subject, RAW_WINDOW, "warm");
    await rawConsume(js, jsm, stream, "warm", RAW_WINDOW);
    await jsm.consumers.delete(stream, "warm");

    await durable("drain", DeliverPolicy.New);
    let cpu = cpuMeter();
    let t0 = performance.now();
    await rawPublish(js, subject, n, "a");
    const publishMs = performance.now() - t0;
    const publishCpu = cpu(publishMs, n);

    cpu = cpuMeter();
    t0 = performance.now();
    const consumed = await rawConsume(js, jsm, stream, "drain", n);
    const consumeMs = performance.now() - t0;
    const consumeCpu = cpu(consumeMs, consumed);
    await jsm.consumers.delete(stream, "drain");

    await durable("live", DeliverPolicy.New);
    cpu = cpuMeter();
    t0 = performance.now();
    const [, liveConsumed] = await Promise.all([
      rawPublish(js, subject, n, "b"),
      rawConsume(js, jsm, stream, "live", n),
    ]);
    const liveMs = performance.now() - t0;
    const liveCpu = cpu(liveMs, liveConsumed);

    line();
    kv("publish (windows of 500)", `${fmtS(publishMs)}  ${perS(n, publishMs)}`);
    kv("     CPU", publishCpu);
    kv("durable pull consume + ack", `${fmtS(consumeMs)}  ${perS(consumed, consumeMs)}`);
    kv("     CPU", consumeCpu);
    kv("both at once (publish → last ack)", `${fmtS(liveMs)}  ${perS(liveConsumed, liveMs)}`);
    kv("     CPU", liveCpu);
    check(
      consumed === n && liveConsumed === n,
      `raw: consumed ${consumed} and ${liveConsumed}, expected ${n}`,
    );

    const raw = {
      publish: rate(n, publishMs),
      consume: rate(consumed, consumeMs),
      live: rate(liveConsumed, liveMs),
    };
    const ratio = (a: number | undefined, b: number) =>
      a === undefined
        ? "n/a (run throughput too)"
        : `${((a / b) * 100).toFixed(1)} %  (${(b / a).toFixed(1)}× slower)`;
    line();
    line("  ours / raw (events/s ÷ messages/s):");
    kv(
      "  end to end: live vs both at once",
      `${ratio(ours.live, raw.live)}   goal ≥ ${GOALS.liveShareOfRaw * 100} %`,
    );
    kv("  publish: relay.flush() vs raw", ratio(ours.relay, raw.publish));
    kv("  consume: consumer drain vs raw", ratio(ours.consumer, raw.consume));
    summary.push(
      {
        figure: "Raw JetStream publish (windows of 500)",
        result: perS(n, publishMs),
        goal: "—",
        verdict: "",
      },
      { figure: "Raw durable pull consume + ack", result: perS(consumed, consumeMs), goal: "—", verdict: "" },
      { figure: "Raw publish + consume at once", result: perS(liveConsumed, liveMs), goal: "—", verdict: "" },
    );
    const short = (a: number | undefined, b: number) =>
      a === undefined ? "n/a" : `${((a / b) * 100).toFixed(1)} %`;
    summary.push(
      {
        figure: "  ours/raw end to end (live)",
        result: short(ours.live, raw.live),
        goal: `≥ ${GOALS.liveShareOfRaw * 100} %`,
        verdict: ours.live === undefined ? "" : verdict(ours.live / raw.live >= GOALS.liveShareOfRaw),
      },
      {
        figure: "  ours/raw publish (relay.flush)",
        result: short(ours.relay, raw.publish),
        goal: "—",
        verdict: "",
      },
      {
        figure: "  ours/raw consume (consumer drain)",
        result: short(ours.consumer, raw.consume),
        goal: "—",
        verdict: "",
      },
    );
  } finally {
    await nc.close().catch(() => {});
  }
}

// ─── main ───────────────────────────────────────────────────────────────────────────────────────────────────

/** Closes pools and NATS clients, deletes every bench namespace's streams, drops the bench databases. */
async function cleanup() {
  const failed = (message: string) => {
    console.error(message);
    problems.push(message);
  };
  for (const close of closers.splice(0)) await close().catch(() => {});
  try {
    adminNats ??= createNatsClient({ servers: NATS_URL, name: "bench-events-admin" });
    const jsm = await adminNats.manager();
    for (const ns of namespaces) {
      await deleteStreams(jsm, ns);
      for (const stream of Object.values(streamNames(ns))) {
        const left = await jsm.streams.info(stream).then(
          () => true,
          () => false,
        );
        if (left) failed(`could not delete stream ${stream}`);
      }
    }
    namespaces.clear();
  } catch (error) {
    failed(`could not delete the bench streams (${[...namespaces].join(", ")}): ${(error as Error).message}`);
  }
  await adminNats?.close().catch(() => {});
  adminNats = undefined;
  for (const problem of await dropAll()) failed(problem);
}

cleanupOnSignals("deleting the bench streams and dropping the bench databases", cleanup);

async function main(): Promise<number> {
  const { only, events, duration, enqueue } = readArgs();
  enqueueMode = enqueue;
  const pgVersion = await serverVersion();
  const probe = await connect({ servers: NATS_URL, name: "bench-events-probe" });
  const natsVersion = probe.info?.version ?? "?";
  await probe.close();
  line(`events benchmarks — ${new Date().toISOString()}`);
  line(`command: bun bench/events.ts ${Bun.argv.slice(2).join(" ")}`.trimEnd());
  line(
    `Bun ${Bun.version} · ${availableParallelism()} cores · PostgreSQL ${pgVersion} at ${redactedHost(adminUrl)} · nats-server ${natsVersion} at ${NATS_URL} · namespaces bench${RUN}* · figures: ${only.join(", ")}`,
  );
  line("NOTE: producer, relay, consumer, Postgres and nats-server all share this machine's cores.");
  const load = () => loadAverage(" / ");
  line(`load average before (1 / 5 / 15 min): ${load()}`);
  if ((loadavg()[0] ?? 0) > 0.5)
    line('  (the machine is already busy: other work competes for the cores; see "rest of machine" CPU)');

  try {
    if (only.includes("throughput")) {
      await benchThroughput(events);
      await benchStages(events);
    }
    if (only.includes("latency")) {
      // The reference first: after the 1k/s run, Postgres may still be writing out what it left behind.
      await benchLatency(LATENCY_REFERENCE_RATE, Math.min(duration, 5), false);
      await benchLatency(LATENCY_RATE, duration, true);
    }
    if (only.includes("raw")) await benchRaw(events);
  } catch (error) {
    problems.push((error as Error).message);
    console.error(`\nerror: ${(error as Error).stack ?? (error as Error).message}`);
  } finally {
    await cleanup();
  }

  heading("Summary (goals are printed, not asserted)");
  line(`load average after (1 / 5 / 15 min): ${load()}`);
  return printSummary();
}

process.exit(await main());
