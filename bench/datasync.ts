/**
 * Data during the migration, in figures (real Postgres, real NATS; nothing asserted):
 *   backfill   rows/s copying 100k codes owner → candidate (packages/datasync backfill, direct DB both sides)
 *   lag        what the outbox adds to a write (the same create with and without its outbox row, side by side in
 *              alternating rounds: CPU per write in the writer, writes/s at 16 connections, latency at 1; the row in
 *              the insert's own statement as the store writes it, and as a second statement beside it), then the
 *              live-sync lag commit → applied, p50/p99, at 200 writes/s offered (open loop, many connections) to the
 *              monolith's store (the monolith as its own process publishing; the sync under test in this one), with
 *              commit → published (the relay's share), and every published event checked: none lost (each in the
 *              sync's inbox, both sides' rows equal), none applied twice (applied count = distinct events)
 *   flip       gateway + monolith + reference-data as processes, a writer through the gateway at ~100 writes/s:
 *              how long writes were held, how many waited, and the longest a client's write took meanwhile
 *
 *   outbox     the first part of lag alone (what the outbox adds to a write), with the Postgres backends' CPU beside
 *
 *   bun bench/datasync.ts [--only backfill|lag|outbox|flip] [--rows 100000] [--rate 200] [--seconds 10] [--writer direct|api] [--writers 2]
 *   --writer direct (default): the monolith's own store verbs (row + outbox in one transaction, 16 connections each, in `--writers` processes),
 *   3 creates : 1 update of a hot key; --writer api: POSTs to the monolith's HTTP API (JWT, one process).
 */
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import {
  codesSpec,
  createRecord,
  type RecordChange,
  referenceSyncHooks,
  updateRecord,
} from "../packages/dash/reference/src/index.ts";
import { sql } from "../packages/datasync/node_modules/drizzle-orm";
import { Registry } from "../packages/datasync/node_modules/prom-client";
import {
  backfill,
  createDatasyncState,
  createLiveSync,
  createSyncMetrics,
  destroyNamespaceState,
  fetchOwnerTable,
  recentLag,
  verifySides,
} from "../packages/datasync/src/index.ts";
import { createDatabase, type Database, rowsOf } from "../packages/db/src/index.ts";
import { createNatsClient, deleteStreams } from "../packages/events/src/index.ts";
import { createLogger } from "../packages/service/src/index.ts";
import {
  createTestAuth,
  createTestDatabase,
  TEST_AUTH,
  TEST_NATS_URL,
} from "../packages/testing/src/index.ts";
import { recordMonolithReferenceChanged } from "../services/dash/monolith/src/events.ts";
import { recordReferenceChanged } from "../services/dash/reference-data/src/events.ts";
import { codeInput } from "../services/dash/reference-data/test/helpers.ts";
import {
  MONOLITH_MIGRATIONS,
  REFERENCE_MIGRATIONS,
  REFERENCE_ROUTE,
  uniqueNamespace,
} from "../services/dash/reference-data/test/sync-helpers.ts";
import {
  commonEnv,
  freePort,
  migrateData,
  startService,
} from "../services/dash/reference-data/test/sync-processes.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    only: { type: "string" },
    rows: { type: "string", default: "100000" },
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "10" },
    writer: { type: "string", default: "direct" },
    writers: { type: "string", default: "2" },
    part: { type: "string", default: "0" },
    role: { type: "string" },
    db: { type: "string" },
    url: { type: "string" },
    token: { type: "string" },
  },
});
const silent = createLogger({ service: "bench-datasync", level: "silent" });
const nats = createNatsClient({ servers: TEST_NATS_URL, name: "bench-datasync" });
const want = (name: string) => !values.only || values.only === name;
const ms = (s: number | null) => (s === null ? "–" : `${(s * 1000).toFixed(1)} ms`);
/** The machine's load average now (1, 5, 15 min): printed beside each figure, this machine being shared. */
const load = () =>
  `load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`;
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const pct = (ratio: number) => `${ratio >= 1 ? "+" : ""}${((ratio - 1) * 100).toFixed(0)} %`;

async function benchBackfill() {
  const rows = Number(values.rows);
  const namespace = uniqueNamespace("bbf");
  const owner = await createTestDatabase({ service: "monolith", migrationsFolder: MONOLITH_MIGRATIONS });
  const candidate = await createTestDatabase({
    service: "reference-data",
    migrationsFolder: REFERENCE_MIGRATIONS,
  });
  try {
    await owner.db.execute(sql`
      insert into codes (code, description, category, tariff_cents, unit, place_of_service, requires_context,
        max_per_day, effective_from, effective_to, active, search_text)
      select lpad(i::text, 6, '0'), 'Acte ' || i, 'visite', 1000 + i % 500, 'acte', 'both', false, null,
        date '2020-01-01', null, true, lpad(i::text, 6, '0') || ' acte ' || i
      from generate_series(1, ${rows}) as i`);
    const state = createDatasyncState(nats, namespace);
    const started = performance.now();
    const result = await backfill({
      route: "reference-data",
      owner: { name: "monolith", db: owner.db },
      candidate: { name: "reference-data", db: candidate.db },
      tables: REFERENCE_ROUTE.tables,
      state,
      batch: 2000,
    });
    const seconds = (performance.now() - started) / 1000;
    const verifyStart = performance.now();
    const verify = await verifySides({
      owner: { name: "monolith", db: owner.db },
      candidate: { name: "reference-data", db: candidate.db },
      tables: REFERENCE_ROUTE.tables,
    });
    console.log(
      `backfill  ${rows} codes in ${seconds.toFixed(2)} s: ${Math.round(rows / seconds).toLocaleString("en")} rows/s ` +
        `(verify ${verify.ok ? "OK" : "MISMATCH"} in ${((performance.now() - verifyStart) / 1000).toFixed(2)} s; ` +
        `written ${result.tables.find((t) => t.table === "codes")?.written})`,
    );
    const again = performance.now();
    await backfill({
      route: "reference-data",
      owner: { name: "monolith", db: owner.db },
      candidate: { name: "reference-data", db: candidate.db },
      tables: REFERENCE_ROUTE.tables,
      state,
      batch: 2000,
    });
    console.log(
      `backfill  second run over equal sides (idempotent, writes nothing): ${((performance.now() - again) / 1000).toFixed(2)} s`,
    );
    await destroyNamespaceState(nats, namespace);
  } finally {
    await owner.drop();
    await candidate.drop();
  }
}

/**
 * What the outbox adds to a write: the monolith's own create verb with its `reference.changed` outbox row (in the
 * insert's statement, as the store writes it; and as a second statement, the recorder without `withWrite`) and
 * with a recorder that writes nothing, in alternating rounds on one database (so load swings hit all alike):
 * CPU per write in this process and writes/s at 16 connections, and the latency of one write at a time.
 */
async function measureOutboxCost() {
  const rounds = 10;
  const perRound = 800;
  const database = await createTestDatabase({ service: "monolith", migrationsFolder: MONOLITH_MIGRATIONS });
  const writer = await createDatabase({
    service: "bench-outbox-cost",
    url: database.url as string,
    poolMax: 16,
  });
  let key = 10000;
  const variants = {
    without: { db: writer.db, recordChange: async () => {} },
    // The store's path: the insert and its outbox row in one statement (the recorder's `withWrite`).
    with: { db: writer.db, recordChange: recordMonolithReferenceChanged },
    // The same recorder without `withWrite`: the insert, then the outbox row as a second statement.
    twoStatements: {
      db: writer.db,
      recordChange: ((tx, change, traceparent) =>
        recordMonolithReferenceChanged(tx, change, traceparent)) as RecordChange,
    },
  };
  type Figures = { cpuMs: number[]; pgCpuMs: number[]; perSecond: number[]; latencyMs: number[] };
  const figures: Record<keyof typeof variants, Figures> = {
    without: { cpuMs: [], pgCpuMs: [], perSecond: [], latencyMs: [] },
    with: { cpuMs: [], pgCpuMs: [], perSecond: [], latencyMs: [] },
    twoStatements: { cpuMs: [], pgCpuMs: [], perSecond: [], latencyMs: [] },
  };
  const singleWrites = perRound / 4;
  const oneAtATime = Object.fromEntries(
    Object.keys(variants).map((v) => [v, { cpuMs: 0, pgCpuMs: 0, writes: 0 }]),
  ) as Record<keyof typeof variants, { cpuMs: number; pgCpuMs: number; writes: number }>;
  async function round(variant: keyof typeof variants) {
    const store = variants[variant];
    let left = perRound;
    const backends = await backendCpuMs(database.db, "bench-outbox-cost");
    const cpu = process.cpuUsage();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (left-- > 0) await createRecord(store, codesSpec, codeInput(String(key++)));
      }),
    );
    const elapsed = performance.now() - started;
    const used = process.cpuUsage(cpu);
    figures[variant].cpuMs.push((used.user + used.system) / 1000 / perRound);
    const backendsAfter = await backendCpuMs(database.db, "bench-outbox-cost");
    if (backends !== null && backendsAfter !== null)
      figures[variant].pgCpuMs.push((backendsAfter - backends) / perRound);
    figures[variant].perSecond.push(perRound / (elapsed / 1000));
    const single: number[] = [];
    const singleBackends = await backendCpuMs(database.db, "bench-outbox-cost");
    const singleCpu = process.cpuUsage();
    for (let i = 0; i < singleWrites; i++) {
      const t = performance.now();
      await createRecord(store, codesSpec, codeInput(String(key++)));
      single.push(performance.now() - t);
    }
    const singleUsed = process.cpuUsage(singleCpu);
    const singleBackendsAfter = await backendCpuMs(database.db, "bench-outbox-cost");
    figures[variant].latencyMs.push(median(single));
    // Summed over the rounds rather than a median per round: one round's Postgres share is a few 10 ms ticks.
    oneAtATime[variant].cpuMs += (singleUsed.user + singleUsed.system) / 1000;
    if (singleBackends !== null && singleBackendsAfter !== null)
      oneAtATime[variant].pgCpuMs += singleBackendsAfter - singleBackends;
    oneAtATime[variant].writes += singleWrites;
  }
  try {
    // Warm both paths (prepared statements on every connection), then measure.
    const names = Object.keys(variants) as (keyof typeof variants)[];
    for (const variant of names) await round(variant);
    for (const f of Object.values(figures)) for (const list of Object.values(f)) list.length = 0;
    for (const o of Object.values(oneAtATime)) Object.assign(o, { cpuMs: 0, pgCpuMs: 0, writes: 0 });
    for (let r = 0; r < rounds; r++) {
      // Each variant in each position in turn, so load swings and a warming pool hit all alike.
      const order = names.map((_, i) => names[(i + r) % names.length] as keyof typeof variants);
      for (const variant of order) await round(variant);
    }
  } finally {
    await writer.close();
    await database.drop();
  }
  const m = (v: keyof typeof variants, f: keyof Figures) => median(figures[v][f]);
  const cpu = m("with", "cpuMs") / m("without", "cpuMs");
  const time = m("without", "perSecond") / m("with", "perSecond");
  const latency = m("with", "latencyMs") / m("without", "latencyMs");
  console.log(
    `outbox    the same create with / without its outbox row (${rounds} alternating rounds of ${perRound}, medians): ` +
      `CPU per write ${m("with", "cpuMs").toFixed(3)} / ${m("without", "cpuMs").toFixed(3)} ms (${pct(cpu)}), ` +
      `16 connections ${m("with", "perSecond").toFixed(0)} / ${m("without", "perSecond").toFixed(0)} writes/s (time per write ${pct(time)}), ` +
      `1 connection ${m("with", "latencyMs").toFixed(2)} / ${m("without", "latencyMs").toFixed(2)} ms (${pct(latency)}); ` +
      `goal: the outbox adds ≤ 20 % (was 2–4 ms CPU per write); ${load()}`,
  );
  const two = m("twoStatements", "cpuMs") / m("without", "cpuMs");
  console.log(
    `outbox    the same create with its outbox row as a second statement (the recorder without withWrite, same rounds): ` +
      `CPU per write ${m("twoStatements", "cpuMs").toFixed(3)} ms (${pct(two)}), ` +
      `16 connections ${m("twoStatements", "perSecond").toFixed(0)} writes/s (time per write ${pct(m("without", "perSecond") / m("twoStatements", "perSecond"))}), ` +
      `1 connection ${m("twoStatements", "latencyMs").toFixed(2)} ms (${pct(m("twoStatements", "latencyMs") / m("without", "latencyMs"))})`,
  );
  if (figures.with.pgCpuMs.length > 0) {
    const pg = (v: keyof typeof variants) => m(v, "pgCpuMs");
    const both = (v: keyof typeof variants) => m(v, "cpuMs") + pg(v);
    console.log(
      `outbox    the Postgres side of the same rounds (its backends' CPU from /proc, 10 ms ticks): ` +
        `CPU per write ${pg("with").toFixed(3)} / ${pg("without").toFixed(3)} ms (${pct(pg("with") / pg("without"))}), ` +
        `as a second statement ${pg("twoStatements").toFixed(3)} ms (${pct(pg("twoStatements") / pg("without"))}); ` +
        `writer + Postgres ${both("with").toFixed(3)} / ${both("without").toFixed(3)} ms (${pct(both("with") / both("without"))}); ${load()}`,
    );
  }
  {
    const per = (v: keyof typeof variants, f: "cpuMs" | "pgCpuMs") => oneAtATime[v][f] / oneAtATime[v].writes;
    const pgKnown = figures.with.pgCpuMs.length > 0;
    console.log(
      `outbox    one write at a time (1 connection, no replies arriving together; ${oneAtATime.with.writes} writes each, summed): ` +
        `CPU per write in the writer ${per("with", "cpuMs").toFixed(3)} / ${per("without", "cpuMs").toFixed(3)} ms (${pct(per("with", "cpuMs") / per("without", "cpuMs"))}), ` +
        `as a second statement ${per("twoStatements", "cpuMs").toFixed(3)} ms (${pct(per("twoStatements", "cpuMs") / per("without", "cpuMs"))})` +
        (pgKnown
          ? `; Postgres ${per("with", "pgCpuMs").toFixed(3)} / ${per("without", "pgCpuMs").toFixed(3)} ms (${pct(per("with", "pgCpuMs") / per("without", "pgCpuMs"))}), ` +
            `as a second statement ${per("twoStatements", "pgCpuMs").toFixed(3)} ms (${pct(per("twoStatements", "pgCpuMs") / per("without", "pgCpuMs"))})`
          : "") +
        `; ${load()}`,
    );
  }
}

/**
 * CPU time (ms) the Postgres backends of one application have used so far, from /proc (the server on this host, as
 * in the benches); null when it cannot be read. A round's difference is the server's share of its writes.
 */
async function backendCpuMs(db: Database, application: string): Promise<number | null> {
  const pids = rowsOf<{ pid: number }>(
    await db.execute(sql`select pid from pg_stat_activity where application_name = ${application}`),
  );
  if (pids.length === 0) return null;
  let ticks = 0;
  try {
    for (const { pid } of pids) {
      // A server on another host: its pids are not this machine's processes.
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "postgres") return null;
      // Fields after the command's ") ": state is the 1st, utime the 12th, stime the 13th (proc(5)).
      const fields = (readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1] as string).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    }
  } catch {
    return null;
  }
  return ticks * 10; // USER_HZ = 100 on Linux
}

/**
 * Open-loop writer: `rate` writes per second for `seconds`, each started at its due time whatever the previous ones
 * are doing (several connections at once). The monolith runs as its own process (its relay publishes the outbox);
 * the sync under test runs here. Offered = started / sending time; achieved = committed / time to the last commit.
 */
async function benchLag() {
  await measureOutboxCost();
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const namespace = uniqueNamespace("blag");
  const auth = createTestAuth();
  const mono = await createTestDatabase({ service: "monolith", migrationsFolder: MONOLITH_MIGRATIONS });
  const ref = await createTestDatabase({ service: "reference-data", migrationsFolder: REFERENCE_MIGRATIONS });
  const port = freePort();
  const monolith = await startService("monolith", port, {
    ...commonEnv(namespace),
    MONOLITH_URL: `http://127.0.0.1:${port}`,
    REFERENCE_DATA_URL: "http://127.0.0.1:9",
    DATABASE_URL: mono.url as string,
  });
  const ownerApi = {
    url: monolith.url,
    dev: { secret: TEST_AUTH.secret, issuer: TEST_AUTH.issuer, audience: TEST_AUTH.audience },
    caller: "bench",
  };
  const metrics = createSyncMetrics(new Registry());
  const sync = createLiveSync({
    metrics,
    name: "bench-sync",
    origin: "monolith",
    event: REFERENCE_ROUTE.event,
    tables: REFERENCE_ROUTE.tables,
    database: ref,
    nats,
    namespace,
    logger: silent,
    readOwnerTable: (table) => fetchOwnerTable(ownerApi, table),
    ...referenceSyncHooks(recordReferenceChanged),
  });
  try {
    await sync.start();
    const token = await auth.token({ roles: ["editor"] });
    // Let the seed's events through first: only the steady writes are measured.
    for (;;) {
      const [row] = rowsOf<{ n: number }>(await ref.db.execute(sql`select count(*)::int as n from codes`));
      if ((row?.n ?? 0) > 300) break;
      await Bun.sleep(100);
    }
    const measureFrom = new Date();
    const total = rate * seconds;
    // The load generator in its own processes (their own event loops and connections), as clients would be.
    const parts = Number(values.writers);
    const writers = Array.from({ length: parts }, (_, part) =>
      Bun.spawn(
        [
          process.execPath,
          import.meta.path,
          ...["--role", "writer", "--writer", String(values.writer), "--part", String(part)],
          ...["--writers", String(parts), "--rate", String(rate), "--seconds", String(seconds)],
          ...["--db", mono.url as string, "--url", monolith.url, "--token", token],
        ],
        { stdout: "pipe", stderr: "inherit" },
      ),
    );
    const figures = await Promise.all(
      writers.map(async (proc) => {
        const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
        if (code !== 0) throw new Error(`writer exited ${code}`);
        return JSON.parse(out) as WriterFigures;
      }),
    );
    const w: WriterFigures = {
      sentIn: Math.max(...figures.map((f) => f.sentIn)),
      answeredIn: Math.max(...figures.map((f) => f.answeredIn)),
      created: figures.reduce((n, f) => n + f.created, 0),
      updated: figures.reduce((n, f) => n + f.updated, 0),
      maxInFlight: figures.reduce((n, f) => n + f.maxInFlight, 0),
      failures: Object.assign({}, ...figures.map((f) => f.failures)),
    };
    if (Object.keys(w.failures).length > 0) console.error("lag       failed writes:", w.failures);
    const { created, updated } = w;
    // Every event the writers committed (the monolith's outbox since the seed) must reach the sync's inbox.
    const published = rowsOf<{ id: string }>(
      await mono.db.execute(
        sql`select id::text as id from outbox where source = 'monolith' and created_at >= ${measureFrom.toISOString()}::timestamptz`,
      ),
    ).map((r) => r.id);
    const inboxIds = async () =>
      new Set(
        rowsOf<{ id: string }>(
          await ref.db.execute(sql`select event_id as id from inbox where consumer = 'bench-sync'`),
        ).map((r) => r.id),
      );
    const deadline = Date.now() + 120_000;
    let seen = await inboxIds();
    while (published.some((id) => !seen.has(id)) && Date.now() < deadline) {
      await Bun.sleep(100);
      seen = await inboxIds();
    }
    const lost = published.filter((id) => !seen.has(id)).length;
    const [lag] = rowsOf<{ p50: number; p99: number; max: number }>(
      await ref.db.execute(sql`
        select percentile_cont(0.5) within group (order by extract(epoch from applied_at - event_time)) as p50,
          percentile_cont(0.99) within group (order by extract(epoch from applied_at - event_time)) as p99,
          max(extract(epoch from applied_at - event_time)) as max
        from sync_keys where applied_at >= ${measureFrom.toISOString()}::timestamptz`),
    );
    // The relay's share: the outbox row's commit (created_at, its transaction's start) → marked sent.
    const [relayed] = rowsOf<{ p50: number; p99: number }>(
      await mono.db.execute(sql`
        select percentile_cont(0.5) within group (order by extract(epoch from sent_at - created_at)) as p50,
          percentile_cont(0.99) within group (order by extract(epoch from sent_at - created_at)) as p99
        from outbox where source = 'monolith' and created_at >= ${measureFrom.toISOString()}::timestamptz`),
    );
    const window = await recentLag(ref.db, "monolith", 60);
    console.log(
      `lag       ${total} writes offered at ${(total / w.sentIn).toFixed(0)}/s (target ${rate}/s, up to ${w.maxInFlight} in flight), ` +
        `achieved ${((created + updated) / w.answeredIn).toFixed(0)}/s (${values.writer} writer: ${created} created, ${updated} updated, ${total - created - updated} failed): ` +
        `commit → applied p50 ${ms(Number(lag?.p50))}, p99 ${ms(Number(lag?.p99))}, max ${ms(Number(lag?.max))} ` +
        `(migrate-data status over the same window: p50 ${ms(window.p50Seconds)}, p99 ${ms(window.p99Seconds)}); ` +
        `of which commit → published p50 ${ms(Number(relayed?.p50))}, p99 ${ms(Number(relayed?.p99))}; ` +
        `goal p99 ≤ 100 ms at 500/s offered; ${load()}`,
    );
    // Applied twice: the sync counts each event it applies once, after its commit; the inbox holds each id once.
    const counted = await metrics.events.get();
    const outcome = (name: string) =>
      counted.values.filter((v) => v.labels.outcome === name).reduce((n, v) => n + v.value, 0);
    const applied = outcome("applied");
    const verify = await verifySides({
      owner: { name: "monolith", db: mono.db },
      candidate: { name: "reference-data", db: ref.db },
      tables: REFERENCE_ROUTE.tables,
    });
    console.log(
      `lag       checked: ${published.length} events published, ${lost} lost (not in the sync's inbox), ` +
        `${applied - seen.size} applied twice (${applied} applies counted, ${seen.size} distinct events; ` +
        `${outcome("duplicate")} redeliveries absorbed), sides ${verify.ok ? "equal" : "DIFFER"} after the run; goal 0 lost, 0 applied twice`,
    );
  } finally {
    await sync.stop();
    await monolith.stop();
    await deleteStreams(await nats.manager(), namespace).catch(() => {});
    await mono.drop();
    await ref.drop();
  }
}

type WriterFigures = {
  sentIn: number;
  answeredIn: number;
  created: number;
  updated: number;
  maxInFlight: number;
  /** Why writes failed: message → count. */
  failures: Record<string, number>;
};

/** `--role writer`: the open-loop load generator of `lag`; prints its figures as JSON. */
async function runWriter(): Promise<WriterFigures> {
  const parts = Number(values.writers);
  const part = Number(values.part);
  const rate = Number(values.rate) / parts;
  const total = Math.round(rate * Number(values.seconds));
  const writerDb = await createDatabase({ service: "bench-writer", url: String(values.db), poolMax: 16 });
  const store = { db: writerDb.db, recordChange: recordMonolithReferenceChanged };
  const started = performance.now();
  const inflight: Promise<number>[] = [];
  let maxInFlight = 0;
  let open = 0;
  const failures = new Map<string, number>();
  for (let n = 0; n < total; n++) {
    // Writer `part` of `parts` takes every parts-th write, so together they send the keys 50000, 50001, …
    const i = n * parts + part;
    const due = started + (n * 1000) / rate + (part * 1000) / Number(values.rate);
    const wait = due - performance.now();
    if (wait > 1) await Bun.sleep(wait);
    open++;
    maxInFlight = Math.max(maxInFlight, open);
    const hot = String(50000 + 4 * parts * Math.floor(i / (40 * parts)) + part);
    const write =
      values.writer === "api"
        ? fetch(`${values.url}/api/codes`, {
            method: "POST",
            headers: { authorization: `Bearer ${values.token}`, "content-type": "application/json" },
            body: JSON.stringify(codeInput(String(50000 + i))),
          }).then(async (r) => {
            await r.arrayBuffer();
            return r.status;
          })
        : n % 4 === 3 && n > 40
          ? updateRecord(store, codesSpec, hot, { tariff_cents: 1000 + i }, "*").then(() => 200)
          : createRecord(store, codesSpec, codeInput(String(50000 + i))).then(() => 201);
    inflight.push(
      write.then(
        (status) => {
          open--;
          return status;
        },
        (error: Error) => {
          open--;
          const reason = String(error?.message ?? error).slice(0, 120);
          failures.set(reason, (failures.get(reason) ?? 0) + 1);
          return 0;
        },
      ),
    );
  }
  const sentIn = (performance.now() - started) / 1000;
  const statuses = await Promise.all(inflight);
  const answeredIn = (performance.now() - started) / 1000;
  await writerDb.close();
  return {
    sentIn,
    answeredIn,
    created: statuses.filter((s) => s === 201).length,
    updated: statuses.filter((s) => s === 200).length,
    maxInFlight,
    failures: Object.fromEntries(failures),
  };
}

async function benchFlip() {
  const namespace = uniqueNamespace("bflip");
  const auth = createTestAuth();
  const mono = await createTestDatabase({ service: "monolith", migrationsFolder: MONOLITH_MIGRATIONS });
  const ref = await createTestDatabase({ service: "reference-data", migrationsFolder: REFERENCE_MIGRATIONS });
  const base = commonEnv(namespace);
  const [gp, mp, rp] = [freePort(), freePort(), freePort()];
  const urls = {
    MONOLITH_URL: `http://127.0.0.1:${mp}`,
    REFERENCE_DATA_URL: `http://127.0.0.1:${rp}`,
    VALIDATION_URL: "http://127.0.0.1:9",
  };
  const services = [
    await startService("monolith", mp, { ...base, ...urls, DATABASE_URL: mono.url as string }),
    await startService("reference-data", rp, { ...base, ...urls, DATABASE_URL: ref.url as string }),
    await startService("gateway", gp, { ...base, ...urls, RATE_LIMIT_PER_MINUTE: "1000000" }),
  ];
  const env = {
    ...base,
    MONOLITH_DATABASE_URL: mono.url as string,
    REFERENCE_DATA_DATABASE_URL: ref.url as string,
    GATEWAY_URL: `http://127.0.0.1:${gp}`,
  };
  try {
    const token = await auth.token({ roles: ["editor"] });
    const bf = await migrateData(["backfill", "reference-data"], env);
    if (bf.code !== 0) throw new Error(`backfill failed: ${bf.stderr}`);
    let stop = false;
    let n = 0;
    const latencies: { at: number; ms: number; status: number }[] = [];
    const writer = async () => {
      while (!stop) {
        const t = performance.now();
        const res = await fetch(`http://127.0.0.1:${gp}/api/codes`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(codeInput(String(60000 + n++))),
        });
        latencies.push({ at: t, ms: performance.now() - t, status: res.status });
        await Bun.sleep(40);
      }
    };
    const lanes = [writer(), writer(), writer(), writer()];
    await Bun.sleep(2000);
    const flipStart = performance.now();
    const flip = await migrateData(["flip", "reference-data", "--json"], env);
    const flipEnd = performance.now();
    await Bun.sleep(1000);
    stop = true;
    await Promise.all(lanes);
    if (!flip.stdout.trim())
      throw new Error(`migrate-data flip printed nothing (exit ${flip.code}): ${flip.stderr}`);
    const result = JSON.parse(flip.stdout) as {
      outcome: string;
      heldMs: number;
      heldWrites: number;
      drainMs: number;
      verifyMs: number;
      totalMs: number;
    };
    const during = latencies.filter((l) => l.at + l.ms >= flipStart && l.at <= flipEnd);
    const before = latencies
      .filter((l) => l.at + l.ms < flipStart)
      .map((l) => l.ms)
      .sort((a, b) => a - b);
    const longest = Math.max(...during.map((l) => l.ms));
    console.log(
      `flip      ${result.outcome}: writes held ${result.heldMs} ms (${result.heldWrites} writes waited; drain ${result.drainMs} ms, ` +
        `verify ${result.verifyMs} ms), migrate-data flip total ${result.totalMs} ms; longest client write during the flip ` +
        `${longest.toFixed(0)} ms (p50 before ${before[Math.floor(before.length / 2)]?.toFixed(1)} ms); ` +
        `${latencies.filter((l) => l.status === 503).length} × 503, ${latencies.filter((l) => l.status === 201).length} × 201`,
    );
    await destroyNamespaceState(nats, namespace);
  } finally {
    for (const s of services.reverse()) await s.stop().catch(() => {});
    await deleteStreams(await nats.manager(), namespace).catch(() => {});
    await mono.drop();
    await ref.drop();
  }
}

if (values.role === "writer") {
  process.stdout.write(`${JSON.stringify(await runWriter())}\n`);
  await nats.close();
  process.exit(0);
}
try {
  if (want("backfill")) await benchBackfill();
  if (want("lag")) await benchLag();
  if (values.only === "outbox") await measureOutboxCost();
  if (want("flip")) await benchFlip();
} finally {
  await nats.close();
}
