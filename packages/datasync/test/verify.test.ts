import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { codes, codesSpec } from "@dash/reference";
import type { Database } from "@fig/db";
import { eq, sql } from "drizzle-orm";
import { comparedColumns, firstDifferences, formatVerify, verifySides } from "../src/index.ts";
import {
  checksumOf,
  codeRow,
  codeRows,
  createSides,
  putRows,
  REFERENCE_ROUTE,
  referenceTable,
  resetSide,
  type Sides,
} from "./helpers.ts";

/** Verify's merge of both sides' key-ordered hashes, over codes' declared columns. */
async function codeDifferences(a: Database, b: Database, max: number, pageSize: number) {
  const table = await referenceTable(a, "codes");
  return firstDifferences(a, b, table, comparedColumns(table), max, pageSize);
}

// The checksum and verify over two real databases with the schemas of the two services.
let sides: Sides;
const owner = () => sides.owner.db;
const candidate = () => sides.candidate.db;

beforeAll(async () => {
  sides = await createSides("ds_verify");
});
afterAll(() => sides?.drop());
beforeEach(async () => {
  await resetSide(owner());
  await resetSide(candidate());
});

describe("tableChecksum", () => {
  test("the same rows written in a different order give the same count and checksum", async () => {
    const rows = codeRows(50);
    await putRows(owner(), codesSpec, rows);
    await putRows(candidate(), codesSpec, [...rows].reverse());
    const a = await checksumOf(owner(), "codes");
    expect(a).toEqual(await checksumOf(candidate(), "codes"));
    expect(a.count).toBe(50);
    expect(a.checksum).not.toBe("0");
  });

  test.each([
    ["a data column", { tariff_cents: 1 }],
    ["a null becoming a value", { max_per_day: 3 }],
    ["the version", { version: 2 }],
    ["the write time by one millisecond", { updated_at: new Date("2026-01-02T03:04:05.679Z") }],
  ])("one row differing in %s changes the checksum", async (_what, change) => {
    await putRows(owner(), codesSpec, [codeRow("10000"), codeRow("10001")]);
    await putRows(candidate(), codesSpec, [codeRow("10000"), codeRow("10001", change)]);
    const a = await checksumOf(owner(), "codes");
    const b = await checksumOf(candidate(), "codes");
    expect(b.count).toBe(a.count);
    expect(b.checksum).not.toBe(a.checksum);
  });

  test("the write time counts to the millisecond, as ETags and events carry it: microseconds do not", async () => {
    await putRows(owner(), codesSpec, [codeRow("10000")]);
    await putRows(candidate(), codesSpec, [codeRow("10000")]);
    await candidate().execute(sql`update codes set updated_at = updated_at + interval '0.0004 seconds'`);
    expect(await checksumOf(candidate(), "codes")).toEqual(await checksumOf(owner(), "codes"));
  });

  test("an empty table checksums to count 0, checksum 0", async () => {
    expect(await checksumOf(owner(), "contexts")).toEqual({
      table: "contexts",
      count: 0,
      checksum: "0",
    });
  });
});

describe("verifySides", () => {
  const verify = () =>
    verifySides({
      owner: { name: "monolith", db: owner() },
      candidate: { name: "reference-data", db: candidate() },
      tables: REFERENCE_ROUTE.tables,
    });

  test("equal sides pass, table by table", async () => {
    await putRows(owner(), codesSpec, codeRows(20));
    await putRows(candidate(), codesSpec, codeRows(20));
    const record = await verify();
    expect(record.ok).toBe(true);
    expect(record.tables.map((t) => [t.table, t.equal, t.owner.count])).toEqual([
      ["codes", true, 20],
      ["contexts", true, 0],
      ["establishments", true, 0],
      ["rules", true, 0],
    ]);
    expect(record.tables.every((t) => t.differences.length === 0)).toBe(true);
    expect(formatVerify(record)).toStartWith("verify monolith (owner) → reference-data (candidate): OK");
  });

  test("a changed row on the candidate fails verify and is named by its key", async () => {
    await putRows(owner(), codesSpec, codeRows(20));
    await putRows(candidate(), codesSpec, codeRows(20));
    await candidate().update(codes).set({ description: "changed here" }).where(eq(codes.code, "10007"));
    const record = await verify();
    expect(record.ok).toBe(false);
    const table = record.tables.find((t) => t.table === "codes");
    expect(table?.equal).toBe(false);
    expect(table?.owner.count).toBe(table?.candidate.count as number);
    expect(table?.differences).toEqual([{ key: "10007", kind: "different" }]);
    expect(record.tables.filter((t) => t.table !== "codes").every((t) => t.equal)).toBe(true);
    const text = formatVerify(record);
    expect(text).toContain("MISMATCH");
    expect(text).toMatch(/different\s+codes 10007/);
  });

  test("a row changed on the owner only fails the same way (either side)", async () => {
    await putRows(owner(), codesSpec, codeRows(5));
    await putRows(candidate(), codesSpec, codeRows(5));
    await owner().update(codes).set({ version: 2 }).where(eq(codes.code, "10003"));
    const record = await verify();
    expect(record.ok).toBe(false);
    expect(record.tables[0]?.differences).toEqual([{ key: "10003", kind: "different" }]);
  });

  test("a key only on the owner is missing on the candidate, one only there is extra", async () => {
    await putRows(owner(), codesSpec, [codeRow("10000"), codeRow("10001")]);
    await putRows(candidate(), codesSpec, [codeRow("10001"), codeRow("10002")]);
    const record = await verify();
    expect(record.ok).toBe(false);
    expect(record.tables[0]?.differences).toEqual([
      { key: "10000", kind: "missing" },
      { key: "10002", kind: "extra" },
    ]);
  });
});

describe("firstDifferences", () => {
  test("merges both sides page by page: differences across page boundaries are all found, in key order", async () => {
    const rows = codeRows(23);
    await putRows(owner(), codesSpec, rows);
    // Missing at the start, different in the middle and at a page edge, extra at the end.
    await putRows(
      candidate(),
      codesSpec,
      rows
        .filter((r) => r.code !== "10000")
        .map((r) => (r.code === "10009" || r.code === "10015" ? { ...r, tariff_cents: 1 } : r)),
    );
    await putRows(candidate(), codesSpec, [codeRow("10099")]);
    expect(await codeDifferences(owner(), candidate(), 10, 3)).toEqual([
      { key: "10000", kind: "missing" },
      { key: "10009", kind: "different" },
      { key: "10015", kind: "different" },
      { key: "10099", kind: "extra" },
    ]);
  });

  test("stops at `max` differences", async () => {
    await putRows(owner(), codesSpec, codeRows(8));
    expect(await codeDifferences(owner(), candidate(), 3, 2)).toEqual([
      { key: "10000", kind: "missing" },
      { key: "10001", kind: "missing" },
      { key: "10002", kind: "missing" },
    ]);
  });
});
