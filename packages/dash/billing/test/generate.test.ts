import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ClaimsExpectation,
  createRuleEngine,
  generateClaims,
  parseClaims,
  type ReferenceSnapshot,
  streamClaims,
} from "../src/index.ts";
import { byteStream, SEED_DIR, seedReference } from "./helpers.ts";

const TODAY = "2025-06-01";
const reference = await seedReference();

/** Parses and checks a byte stream: findings per rule, and how many lines had any. */
async function validate(stream: ReadableStream<Uint8Array>, snapshot: ReferenceSnapshot = reference) {
  const engine = createRuleEngine(snapshot, { today: TODAY });
  const byRule: Record<string, number> = {};
  let rows = 0;
  let linesWithFindings = 0;
  let maxPerLine = 0;
  for await (const line of parseClaims(stream)) {
    rows++;
    const findings = [...line.findings, ...engine.check(line)];
    if (findings.length > 0) linesWithFindings++;
    maxPerLine = Math.max(maxPerLine, findings.length);
    for (const f of findings) byRule[f.ruleId] = (byRule[f.ruleId] ?? 0) + 1;
  }
  for (const f of engine.finish()) byRule[f.ruleId] = (byRule[f.ruleId] ?? 0) + 1;
  return { rows, byRule, linesWithFindings, maxPerLine };
}

const text = (options: Parameters<typeof generateClaims>[0]) => [...generateClaims(options)].join("");

describe("generated claims", () => {
  for (const encoding of ["utf8", "latin1"] as const) {
    test(`5k lines at 5% errors (${encoding}): the engine finds exactly what was injected`, async () => {
      const { stream, expected } = streamClaims({
        reference,
        rows: 5000,
        errorRate: 0.05,
        seed: 20250601,
        today: TODAY,
        encoding,
      });
      const result = await validate(stream);
      const want: ClaimsExpectation = await expected;
      expect(result.rows).toBe(5000);
      expect(result.byRule).toEqual(want.findings);
      // Each erroneous line breaks exactly one rule; every other line is clean.
      expect(result.linesWithFindings).toBe(want.errorRows);
      expect(result.maxPerLine).toBe(1);
      expect(want.errorRows).toBeGreaterThan(200);
      expect(Object.keys(want.findings)).toHaveLength(14);
      expect(Math.min(...Object.values(want.findings))).toBeGreaterThan(10);
    });
  }

  test("at error rate 0 no line has any finding", async () => {
    const { stream, expected } = streamClaims({ reference, rows: 3000, errorRate: 0, seed: 9, today: TODAY });
    const result = await validate(stream);
    expect(result.byRule).toEqual({});
    expect((await expected).errorRows).toBe(0);
  });

  test('the "," delimiter (decimal point amounts) also checks out exactly', async () => {
    const { stream, expected } = streamClaims({
      reference,
      rows: 2000,
      seed: 4,
      today: TODAY,
      delimiter: ",",
    });
    expect((await validate(stream)).byRule).toEqual((await expected).findings);
  });

  test("deterministic for a seed", () => {
    const options = { reference, rows: 300, seed: 11, today: TODAY };
    expect(text(options)).toBe(text(options));
    expect(text(options)).not.toBe(text({ ...options, seed: 12 }));
  });

  test("only rules enabled in the snapshot are injected", async () => {
    const rules = new Map(reference.rules);
    rules.set("duplicate-line", { id: "duplicate-line", severity: "warning", enabled: false, params: {} });
    const snapshot = { ...reference, rules };
    const { stream, expected } = streamClaims({ reference: snapshot, rows: 2000, seed: 5, today: TODAY });
    const result = await validate(stream, snapshot);
    expect((await expected).findings["duplicate-line"]).toBeUndefined();
    expect(result.byRule).toEqual((await expected).findings);
  });
});

test("gen-claims.ts writes the file and its sidecar", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gen-claims-"));
  try {
    const out = join(dir, "claims.csv");
    const script = join(import.meta.dir, "../src/gen-claims.ts");
    const args = ["--rows", "1500", "--encoding", "latin1", "--seed", "5", "--out", out, "--today", TODAY];
    const child = Bun.spawnSync(["bun", script, ...args, "--reference", SEED_DIR], { stderr: "pipe" });
    expect(child.exitCode).toBe(0);
    const sidecar = JSON.parse(readFileSync(`${out}.expected.json`, "utf8"));
    expect(sidecar).toMatchObject({ rows: 1500, seed: 5, today: TODAY, encoding: "latin1" });
    const bytes = new Uint8Array(readFileSync(out));
    expect(bytes.includes(0xe9)).toBe(true); // "é" of "No établissement", one Latin-1 byte
    const result = await validate(byteStream(bytes));
    expect(result.byRule).toEqual(sidecar.findings);
    expect(sidecar.total).toBe(Object.values(result.byRule).reduce((a, b) => a + b, 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
