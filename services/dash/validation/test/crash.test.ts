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

const t = useValidationApp({
  maxUploadBytes: 64 * 1024 * 1024,
  requiresServer: "the worker runs in a child process on the same database",
});
const ACK_WAIT_MS = 2000;
/** The child holds its run here (a committed progress update) until it is killed: mid-run on any machine. */
const HOLD_AFTER_ROWS = 40_000;

beforeAll(async () => {
  // The relay runs here; the only worker, at first, is the child process.
  await startPipeline(t, { worker: false });
}, 30_000);

/** Complete lines of `stream`, read on demand: `next(prefix)` skips to the next line starting with `prefix`. */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let seen = "";
  return {
    async next(prefix: string, timeoutMs: number): Promise<string> {
      const deadline = Bun.sleep(timeoutMs).then(() => ({ timedOut: true }) as const);
      for (;;) {
        for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
          const line = buffer.slice(0, at);
          buffer = buffer.slice(at + 1);
          seen += `${line}\n`;
          if (line.startsWith(prefix)) return line;
        }
        const chunk = await Promise.race([reader.read(), deadline]);
        if ("timedOut" in chunk)
          throw new Error(`no "${prefix}" line within ${timeoutMs} ms; got ${seen}${buffer}`);
        if (chunk.done) throw new Error(`the process closed stdout before "${prefix}"; got ${seen}${buffer}`);
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
  };
}

const countOf = async (statement: ReturnType<typeof sql>) =>
  Number((await query<{ n: number }>(t.tdb.db, statement))[0]?.n);

test("kill -9 of a worker process mid-run → the job is redelivered and exactly one complete set of results is kept", async () => {
  const rows = 60_000;
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
      WORKER_HOLD_AFTER_ROWS: String(HOLD_AFTER_ROWS),
      TODAY,
    },
    stdout: "pipe",
    stderr: "inherit",
  });
  t.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    await proc.exited;
  });
  const stdout = lineReader(proc.stdout);
  await stdout.next("STARTED", 15_000);

  // Mid-run: the child has claimed the run, written progress and flushed some findings, and holds there.
  const holding = await stdout.next("HOLDING ", 60_000);
  expect(Number(holding.slice("HOLDING ".length))).toBe(HOLD_AFTER_ROWS);
  const mid = await waitForRun(t, id, { done: () => true });
  expect({ status: mid.status, attempts: mid.attempts, processedRows: mid.progress.processedRows }).toEqual({
    status: "processing",
    attempts: 1,
    processedRows: HOLD_AFTER_ROWS,
  });
  const partial = await countOf(sql`select count(*)::int as n from results where validation_id = ${id}`);
  expect(partial).toBeGreaterThan(0);
  expect(partial).toBeLessThan(total);
  proc.kill("SIGKILL");
  await proc.exited;
  expect(proc.signalCode).toBe("SIGKILL");

  const orphan = await waitForRun(t, id, { done: () => true });
  expect({ status: orphan.status, processedRows: orphan.progress.processedRows }).toEqual({
    status: "processing",
    processedRows: HOLD_AFTER_ROWS,
  });

  // A surviving replica: same durable consumer. The dead worker's job comes back after ack_wait.
  await startWorker(t, { ackWaitMs: ACK_WAIT_MS, progressEveryRows: 500 });
  const run = await waitForRun(t, id, { timeoutMs: 60_000 });

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
}, 120_000);
