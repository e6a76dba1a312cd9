import { beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import {
  generatedClaims,
  NATS_URL,
  nonZero,
  query,
  startPipeline,
  startWorker,
  TODAY,
  useValidationApp,
  validateCsv,
  waitForRun,
} from "./helpers.ts";

const t = useValidationApp({ maxUploadBytes: 64 * 1024 * 1024 });
const ACK_WAIT_MS = 2000;

beforeAll(async () => {
  // The relay runs here; the only worker, at first, is the child process.
  await startPipeline(t, { worker: false });
}, 30_000);

/** Reads `stream` until a line starting with `prefix` arrives. */
async function waitForLine(stream: ReadableStream<Uint8Array>, prefix: string, timeoutMs: number) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const deadline = Bun.sleep(timeoutMs).then(() => ({ timedOut: true }) as const);
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), deadline]);
      if ("timedOut" in next) throw new Error(`no "${prefix}" line within ${timeoutMs} ms; got ${buffer}`);
      if (next.done) throw new Error(`the process closed stdout before "${prefix}"; got ${buffer}`);
      buffer += decoder.decode(next.value, { stream: true });
      const line = buffer.split("\n").find((l) => l.startsWith(prefix));
      if (line) return line;
    }
  } finally {
    reader.releaseLock();
  }
}

const countOf = async (statement: ReturnType<typeof sql>) =>
  Number((await query<{ n: number }>(t.tdb.db, statement))[0]?.n);

test("kill -9 of a worker process mid-run → the job is redelivered and exactly one complete set of results is kept", async () => {
  const rows = 100_000;
  const { bytes, expected, total } = await generatedClaims(t, rows, { seed: 3 });
  const id = await validateCsv(t, bytes);
  expect(t.tdb.url).toBeString();

  const proc = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures", "worker-process.ts")], {
    env: {
      ...Bun.env,
      FIG_TEST_DATABASE_URL: t.tdb.url,
      FIG_NAMESPACE: t.namespace,
      NATS_URL,
      WORKER_ACK_WAIT_MS: String(ACK_WAIT_MS),
      WORKER_PROGRESS_EVERY_ROWS: "500",
      TODAY,
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  t.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
  });
  await waitForLine(proc.stdout, "STARTED", 15_000);

  // Mid-run: the child has claimed the run and written progress (and some findings).
  const mid = await waitForRun(t, id, {
    done: (run) => run.progress.processedRows > 0 || run.status === "completed" || run.status === "failed",
    timeoutMs: 20_000,
  });
  expect({ status: mid.status, attempts: mid.attempts }).toEqual({ status: "processing", attempts: 1 });
  proc.kill("SIGKILL");
  await proc.exited;
  expect(proc.signalCode).toBe("SIGKILL");

  const orphan = await waitForRun(t, id, { done: () => true });
  expect(orphan.status).toBe("processing");
  expect(orphan.progress.processedRows).toBeLessThan(rows);

  // A surviving replica: same durable consumer. The dead worker's job comes back after ack_wait.
  await startWorker(t, { ackWaitMs: ACK_WAIT_MS, progressEveryRows: 500 });
  const run = await waitForRun(t, id, { timeoutMs: 40_000 });

  expect(run.status).toBe("completed");
  expect(run.attempts).toBeGreaterThanOrEqual(2);
  expect(run.rows).toBe(rows);
  expect(run.progress).toEqual({ processedRows: rows, percent: 100 });
  expect(run.counts.byRule).toEqual(nonZero(expected.findings));
  expect(Object.values(run.counts.bySeverity).reduce((a, b) => a + b, 0)).toBe(total);

  // The findings table, read as the superuser: one complete set, nothing left over from the killed attempt.
  expect(await countOf(sql`select count(*)::int as n from results where validation_id = ${id}`)).toBe(total);
  expect(
    await countOf(sql`select count(distinct seq)::int as n from results where validation_id = ${id}`),
  ).toBe(total);
  expect(
    await countOf(sql`select count(*)::int as n from (
      select line, rule_id from results where validation_id = ${id} group by line, rule_id having count(*) > 1
    ) as repeated`),
  ).toBe(0);
  const byRule = await query<{ rule_id: string; n: number }>(
    t.tdb.db,
    sql`select rule_id, count(*)::int as n from results where validation_id = ${id} group by rule_id`,
  );
  expect(Object.fromEntries(byRule.map((r) => [r.rule_id, r.n]))).toEqual(nonZero(expected.findings));
  // And it finished once: one validation.completed event.
  expect(
    await countOf(
      sql`select count(*)::int as n from outbox where type = 'validation.completed' and data->>'validationId' = ${id}`,
    ),
  ).toBe(1);
}, 90_000);
