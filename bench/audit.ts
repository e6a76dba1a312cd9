/**
 * The audit log's append cost (packages/audit) on a real Postgres server: what the audit service pays per entry.
 * Prints, each with how it was measured:
 *
 *   single  — N appends one after another, one entry per transaction (lock the head row, check the event id,
 *             hash, insert, move the head): entries/s and µs per append (mean, p50, p99).
 *   batch   — N entries in batches of 100, one transaction each, as the consumer appends a backlog: entries/s.
 *   racing  — N single appends from 4 connections at once, serialized by the head row's lock: entries/s.
 *   verify  — `bun run audit verify`'s work over the resulting chain: entries/s.
 *
 * A correctness check fails the run (exit 1): every chain must verify with the count appended.
 *
 * Usage: bun bench/audit.ts [--entries 2000]
 * Env: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres).
 * Databases are named fig_bench_audit_*_<random> and dropped at the end.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import {
  type AuditRecord,
  appendEntries,
  databaseChainSource,
  verifyChain,
} from "../packages/audit/src/index.ts";
import { createDatabase, type DatabaseHandle } from "../packages/db/src/index.ts";
import { createBenchDatabase, dropAll, serverVersion } from "./lib/postgres.ts";

const MIGRATIONS = new URL("../services/audit/drizzle", import.meta.url).pathname;
const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { entries: { type: "string", default: "2000" } },
});
const N = Number(values.entries);

const record = (i: number): AuditRecord => ({
  at: new Date().toISOString(),
  actor: { sub: "bench", tenant: "platform" },
  kind: "weights",
  subject: "validation",
  from: { monolith: 100 - (i % 100), validation: i % 100 },
  to: { monolith: 99 - (i % 100), validation: (i % 100) + 1 },
  reason: `bench step ${i}`,
  data: { revision: i, p95Ms: 120.5, errorRate: 0.001 },
});

async function freshLog(what: string): Promise<DatabaseHandle> {
  const { url } = await createBenchDatabase(`audit_${what}`);
  const handle = await createDatabase({ service: "audit-bench", url, poolMax: 5 });
  await handle.migrate(MIGRATIONS);
  return handle;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
const fmt = (n: number) => n.toFixed(0);
let failed = false;

async function check(handle: DatabaseHandle, expected: number, what: string) {
  const result = await verifyChain(databaseChainSource(handle.db));
  if (!result.ok || result.count !== expected) {
    console.error(`✗ ${what}: the chain does not verify with ${expected} entries: ${JSON.stringify(result)}`);
    failed = true;
  }
}

try {
  console.log(
    `audit append cost — Postgres ${await serverVersion()}, ${N} entries, load ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );

  const single = await freshLog("single");
  for (let i = 0; i < 50; i++) await appendEntries(single.db, [{ eventId: `warm-${i}`, record: record(i) }]);
  const each: number[] = [];
  const started = performance.now();
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await appendEntries(single.db, [{ eventId: `single-${i}`, record: record(i) }]);
    each.push((performance.now() - t) * 1000);
  }
  const singleMs = performance.now() - started;
  each.sort((a, b) => a - b);
  console.log(
    `  single: ${fmt((N / singleMs) * 1000)} entries/s; per append ${fmt((singleMs * 1000) / N)} µs mean, ` +
      `${fmt(pct(each, 0.5))} µs p50, ${fmt(pct(each, 0.99))} µs p99`,
  );
  const verifyStarted = performance.now();
  await check(single, N + 50, "single");
  const verifyMs = performance.now() - verifyStarted;
  console.log(
    `  verify: ${fmt(((N + 50) / verifyMs) * 1000)} entries/s (${N + 50} entries in ${fmt(verifyMs)} ms)`,
  );
  await single.close();

  const batch = await freshLog("batch");
  const batchStarted = performance.now();
  for (let i = 0; i < N; i += 100) {
    const size = Math.min(100, N - i);
    await appendEntries(
      batch.db,
      Array.from({ length: size }, (_, j) => ({ eventId: `batch-${i + j}`, record: record(i + j) })),
    );
  }
  const batchMs = performance.now() - batchStarted;
  console.log(
    `  batch of 100: ${fmt((N / batchMs) * 1000)} entries/s (${fmt((batchMs * 1000) / N)} µs per entry)`,
  );
  await check(batch, N, "batch");
  await batch.close();

  const racing = await freshLog("racing");
  const racingStarted = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < N) {
        const i = next++;
        await appendEntries(racing.db, [{ eventId: `racing-${i}`, record: record(i) }]);
      }
    }),
  );
  const racingMs = performance.now() - racingStarted;
  console.log(`  4 appenders racing: ${fmt((N / racingMs) * 1000)} entries/s, one chain`);
  await check(racing, N, "racing");
  await racing.close();
} catch (error) {
  console.error(`✗ ${(error as Error).message}`);
  failed = true;
} finally {
  const problems = await dropAll();
  for (const p of problems) console.error(`✗ ${p}`);
  if (problems.length > 0) failed = true;
}
process.exit(failed ? 1 : 0);
