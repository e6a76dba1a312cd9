/**
 * Data during the migration, in figures (real Postgres, real NATS; nothing asserted):
 *   backfill   rows/s copying 100k codes owner → candidate (packages/datasync backfill, direct DB both sides)
 *   lag        live-sync lag commit → applied, p50/p99, at 200 writes/s through the monolith's API
 *   flip       gateway + monolith + reference-data as processes, a writer through the gateway at ~100 writes/s:
 *              how long writes were held, how many waited, and the longest a client's write took meanwhile
 *
 *   bun bench/datasync.ts [--only backfill|lag|flip] [--rows 100000] [--rate 200] [--seconds 10]
 */
import { parseArgs } from "node:util";
import { sql } from "../packages/datasync/node_modules/drizzle-orm";
import {
  backfill,
  createDatasyncState,
  createReferenceSync,
  destroyNamespaceState,
  recentLag,
  verifySides,
} from "../packages/datasync/src/index.ts";
import { rowsOf } from "../packages/db/src/index.ts";
import { createNatsClient, createOutboxRelay, deleteStreams } from "../packages/events/src/index.ts";
import { REFERENCE_SPECS } from "../packages/reference/src/index.ts";
import { createLogger } from "../packages/service/src/index.ts";
import { createTestAuth, createTestDatabase, TEST_AUTH } from "../packages/testing/src/index.ts";
import { buildApp as buildMonolith } from "../services/monolith/src/app.ts";
import { seedEmptyReferenceTables } from "../services/monolith/src/modules/reference/seed.ts";
import { recordReferenceChanged } from "../services/reference-data/src/events.ts";
import { codeInput } from "../services/reference-data/test/helpers.ts";
import {
  MONOLITH_MIGRATIONS,
  REFERENCE_MIGRATIONS,
  SEED_DIR,
  uniqueNamespace,
} from "../services/reference-data/test/sync-helpers.ts";
import {
  commonEnv,
  freePort,
  migrateData,
  startService,
} from "../services/reference-data/test/sync-processes.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    only: { type: "string" },
    rows: { type: "string", default: "100000" },
    rate: { type: "string", default: "200" },
    seconds: { type: "string", default: "10" },
  },
});
const silent = createLogger({ service: "bench-datasync", level: "silent" });
const nats = createNatsClient({ servers: "127.0.0.1:4222", name: "bench-datasync" });
const want = (name: string) => !values.only || values.only === name;
const ms = (s: number | null) => (s === null ? "–" : `${(s * 1000).toFixed(1)} ms`);

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
      specs: REFERENCE_SPECS,
      state,
      batch: 2000,
    });
    const seconds = (performance.now() - started) / 1000;
    const verifyStart = performance.now();
    const verify = await verifySides({
      owner: { name: "monolith", db: owner.db },
      candidate: { name: "reference-data", db: candidate.db },
      specs: REFERENCE_SPECS,
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
      specs: REFERENCE_SPECS,
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

async function benchLag() {
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  const namespace = uniqueNamespace("blag");
  const auth = createTestAuth();
  const mono = await createTestDatabase({ service: "monolith", migrationsFolder: MONOLITH_MIGRATIONS });
  const ref = await createTestDatabase({ service: "reference-data", migrationsFolder: REFERENCE_MIGRATIONS });
  await seedEmptyReferenceTables(mono.db, SEED_DIR);
  const app = buildMonolith({
    db: mono.db,
    verifier: auth.verifier,
    config: { MAX_UPLOAD_BYTES: 1 << 20 },
    logger: silent,
  });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  const relay = createOutboxRelay({ database: mono, nats, namespace, logger: silent });
  const sync = createReferenceSync({
    name: "bench-sync",
    origin: "monolith",
    database: ref,
    nats,
    namespace,
    logger: silent,
    ownerApi: {
      url: `http://127.0.0.1:${server.port}`,
      dev: { secret: TEST_AUTH.secret, issuer: TEST_AUTH.issuer, audience: TEST_AUTH.audience },
      caller: "bench",
    },
    recordChange: recordReferenceChanged,
  });
  try {
    await relay.start();
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
    const started = performance.now();
    const inflight: Promise<Response>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await Bun.sleep(wait);
      inflight.push(
        fetch(`http://127.0.0.1:${server.port}/api/codes`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(codeInput(String(50000 + i))),
        }),
      );
    }
    const statuses = await Promise.all(inflight.map((p) => p.then((r) => r.status)));
    const offered = total / ((performance.now() - started) / 1000);
    for (;;) {
      const [row] = rowsOf<{ n: number }>(
        await ref.db.execute(
          sql`select count(*)::int as n from sync_keys where applied_at >= ${measureFrom.toISOString()}::timestamptz`,
        ),
      );
      if ((row?.n ?? 0) >= total) break;
      await Bun.sleep(100);
    }
    const [lag] = rowsOf<{ p50: number; p99: number; max: number }>(
      await ref.db.execute(sql`
        select percentile_cont(0.5) within group (order by extract(epoch from applied_at - event_time)) as p50,
          percentile_cont(0.99) within group (order by extract(epoch from applied_at - event_time)) as p99,
          max(extract(epoch from applied_at - event_time)) as max
        from sync_keys where applied_at >= ${measureFrom.toISOString()}::timestamptz`),
    );
    const window = await recentLag(ref.db, "monolith", 60);
    console.log(
      `lag       ${total} writes at ${offered.toFixed(0)}/s (${statuses.filter((s) => s === 201).length} × 201): ` +
        `commit → applied p50 ${ms(Number(lag?.p50))}, p99 ${ms(Number(lag?.p99))}, max ${ms(Number(lag?.max))} ` +
        `(migrate-data status over the same window: p50 ${ms(window.p50Seconds)}, p99 ${ms(window.p99Seconds)})`,
    );
  } finally {
    await sync.stop();
    await relay.stop();
    server.stop(true);
    await deleteStreams(await nats.manager(), namespace).catch(() => {});
    await mono.drop();
    await ref.drop();
  }
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

try {
  if (want("backfill")) await benchBackfill();
  if (want("lag")) await benchLag();
  if (want("flip")) await benchFlip();
} finally {
  await nats.close();
}
