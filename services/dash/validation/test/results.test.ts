import { beforeAll, expect, test } from "bun:test";
import { columnForHeader, createRuleEngine, type Finding, parseClaims } from "@dash/billing";
import { sql } from "drizzle-orm";
import { loadReferenceSnapshot } from "../src/domain/reference-model.ts";
import {
  generatedClaims,
  query,
  startPipeline,
  TODAY,
  useValidationApp,
  validateCsv,
  waitForRun,
} from "./helpers.ts";

const t = useValidationApp({ maxUploadBytes: 8 * 1024 * 1024 });

// Batches of 7 findings: many inserts, each starting while the worker reads on.
beforeAll(() => startPipeline(t, { resultBatchSize: 7, progressEveryRows: 100 }), 30_000);

/** What the engine reports for `bytes`, in the worker's order: the parser's findings, then the rules', per line. */
async function engineFindings(bytes: Uint8Array<ArrayBuffer>): Promise<Finding[]> {
  const engine = createRuleEngine(await loadReferenceSnapshot(t.tdb.db), { today: TODAY });
  const found: Finding[] = [];
  for await (const line of parseClaims(new Response(bytes).body as ReadableStream<Uint8Array>))
    found.push(...line.findings, ...engine.check(line));
  found.push(...engine.finish());
  return found;
}

test("the stored findings are the engine's, in order, text intact (quotes, backslashes, accents, emoji)", async () => {
  const { bytes } = await generatedClaims(t, 600, { seed: 13, errorRate: 0.2 });
  const lines = new TextDecoder().decode(bytes).split("\r\n");
  const amount = (lines[0] as string)
    .split(";")
    .findIndex((h) => columnForHeader(h)?.name === "amount_cents");
  expect(amount).toBeGreaterThan(0);
  // Amounts that do not read, quoted in the CSV: the finding's message quotes them back with JSON escapes.
  const odd = ['"1""2\\x"', '"é à 🙂"', '"\\""", ""{1,2}"""', '"tab\there"'];
  odd.forEach((cell, k) => {
    const i = 10 + k * 7;
    if ((lines[i] as string).includes('"')) return;
    lines[i] = (lines[i] as string)
      .split(";")
      .map((v, c) => (c === amount ? cell : v))
      .join(";");
  });
  const csv = new TextEncoder().encode(lines.join("\r\n"));
  const expected = await engineFindings(csv);
  expect(expected.filter((f) => /🙂|\\\\|""/.test(f.message)).length).toBeGreaterThanOrEqual(2);

  const run = await waitForRun(t, await validateCsv(t, csv));
  expect(run.status).toBe("completed");
  const stored = await query<Finding & { seq: number }>(
    t.tdb.db,
    sql`select seq, line, rule_id as "ruleId", severity, "column", message from results
        where validation_id = ${run.validationId} order by seq`,
  );
  expect(stored.map((r) => r.seq)).toEqual(expected.map((_, i) => i));
  expect(stored.map(({ seq: _, ...f }) => f)).toEqual(expected);
}, 60_000);
