import { expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRuleEngine, type Finding, generateClaims, parseClaims } from "../src/index.ts";
import { seedReference } from "./helpers.ts";

const TODAY = "2025-06-01";
/**
 * SHA-256 of the findings (one JSON line each, in order) that the engine reported for the file below before
 * its duplicate and per-day tables were bounded (commit 98c8ad7, a KeyTable growing with the file).
 */
const FINDINGS_BEFORE_BOUND = "af672f441853d082ed4d9c6bbcba8400ab918ee1fdb33e62de4c8bc797f1a119";

/** 20,000 generated lines, then their first 500 again: far-back duplicates and days that add up over the file. */
async function claimsFile(): Promise<string> {
  const lines = [
    ...generateClaims({ reference: await seedReference(), rows: 20_000, seed: 7, today: TODAY }),
  ];
  return lines.join("") + lines.slice(1, 501).join("");
}

async function check(text: string, maxKeysInMemory?: number) {
  const reference = await seedReference();
  const engine = createRuleEngine(reference, {
    today: TODAY,
    ...(maxKeysInMemory ? { maxKeysInMemory } : {}),
  });
  const findings: Finding[] = [];
  try {
    for await (const line of parseClaims(new Response(text).body as ReadableStream<Uint8Array>))
      findings.push(...line.findings, ...engine.check(line));
    findings.push(...engine.finish());
  } finally {
    engine.close();
  }
  const hasher = new Bun.CryptoHasher("sha256");
  for (const f of findings) hasher.update(`${JSON.stringify(f)}\n`);
  const byRule = (id: string) => findings.filter((f) => f.ruleId === id).length;
  return { digest: hasher.digest("hex"), findings, byRule };
}

test("bounded duplicate and per-day tables report the same findings, spilling or not, as before the bound", async () => {
  const text = await claimsFile();
  const inMemory = await check(text); // the default bound holds every key of this file
  const spilling = await check(text, 64); // 64 keys in memory: hundreds of spills and merges
  expect(spilling.findings).toEqual(inMemory.findings);
  expect(inMemory.digest).toBe(FINDINGS_BEFORE_BOUND);
  // The file exercises what the bound changes: duplicates of lines 20,000 lines back, daily maximums.
  expect(inMemory.byRule("duplicate-line")).toBe(572);
  expect(inMemory.byRule("max-per-day-exceeded")).toBe(111);
  const farBack = inMemory.findings.filter(
    (f) => f.ruleId === "duplicate-line" && f.line > 20_001 && /Duplicate of line \d+:/.test(f.message),
  );
  expect(farBack.length).toBeGreaterThanOrEqual(500);
}, 60_000);

test("finish() deletes the spill files of a file that overflowed the memory bound", async () => {
  const spillDirs = () => readdirSync(tmpdir()).filter((name) => name.startsWith("fig-billing-keys-"));
  const before = new Set(spillDirs());
  const reference = await seedReference();
  const engine = createRuleEngine(reference, { today: TODAY, maxKeysInMemory: 16 });
  const text = [...generateClaims({ reference, rows: 500, seed: 3, today: TODAY })].join("");
  for await (const line of parseClaims(new Response(text).body as ReadableStream<Uint8Array>))
    engine.check(line);
  const created = spillDirs().filter((name) => !before.has(name));
  expect(created.length).toBeGreaterThanOrEqual(1); // both rules spilled 500 keys held 16 at a time
  engine.finish();
  expect(created.filter((name) => existsSync(join(tmpdir(), name)))).toEqual([]);
});
