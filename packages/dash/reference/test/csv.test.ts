import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type Database, rowsOf } from "@fig/db";
import { DomainError } from "@fig/service";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";
import {
  codesSpec,
  contextsSpec,
  exportCsv,
  getRecord,
  importCsv,
  type LineError,
  type ResourceSpec,
  referenceChangeRecorder,
  rulesSpec,
} from "../src/index.ts";
import { csvBody, outboxEvents, REFERENCE_MIGRATIONS, readAll } from "./helpers.ts";

// The CSV codec on a real database: each describe block owns one table, so their rows never meet.
let tdb: TestDatabase;
const recordChange = referenceChangeRecorder({ withRows: true });

beforeAll(async () => {
  tdb = await createTestDatabase({ service: "reference-csv", migrationsFolder: REFERENCE_MIGRATIONS });
});
afterAll(() => tdb?.drop());

const importText = (spec: ResourceSpec, text: string | Uint8Array<ArrayBuffer>) =>
  importCsv(tdb.db, spec, csvBody(text), { recordChange });

/** The DomainError an import is refused with (fails the test if it succeeds or throws something else). */
async function refusal(spec: ResourceSpec, text: string | Uint8Array<ArrayBuffer>): Promise<DomainError> {
  const error = await importText(spec, text).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

async function count(db: Database, table: string): Promise<number> {
  const [row] = rowsOf<{ n: number }>(await db.execute(sql.raw(`select count(*)::int as n from ${table}`)));
  return Number(row?.n);
}

const CODES_HEADER = codesSpec.columns.map((c) => c.name).join(",");
const code = (key: string, tariff = "6290", description = "Examen complet majeur") =>
  `${key},${description},examen,${tariff},acte,both,false,,2015-01-01,,true`;

describe("codes: import and export", () => {
  const lines = [
    code("00103"),
    code("00099", "4265", '"Examen, ""périodique"" à domicile"'),
    `00104,Visite,visite,1500,acte,cabinet,true,2,2015-01-01,2030-12-31,false`,
  ];
  const file = `${CODES_HEADER}\n${lines.join("\n")}\n`;

  // Each test starts from an empty codes table (and outbox) of its own.
  beforeEach(async () => {
    await tdb.db.execute(sql`truncate codes, outbox`);
  });

  test("a file into an empty table: every row inserted, and one `imported` event carrying them", async () => {
    const result = await importText(codesSpec, file);
    expect(result).toEqual({ rows: 3, inserted: 3, updated: 0, unchanged: 0 });
    const events = await outboxEvents(tdb.db);
    expect(events.map((e) => e.data.op)).toEqual(["imported"]);
    expect(events[0]?.data.keys).toEqual(["00103", "00099", "00104"]);
    expect(events[0]?.data.rows).toHaveLength(3);
    expect(await getRecord({ db: tdb.db, recordChange }, codesSpec, "00099")).toMatchObject({
      description: 'Examen, "périodique" à domicile',
      tariff_cents: 4265,
      max_per_day: null,
      effective_to: null,
      version: 1,
    });
  });

  test("export then import of the export: byte-identical text, nothing written, no event", async () => {
    await importText(codesSpec, file);
    const exported = await readAll(exportCsv(tdb.db, codesSpec));
    expect(exported.split("\n")[0]).toBe(CODES_HEADER);
    // Key order, quoting where a cell needs it, empty cells for nulls.
    expect(exported.split("\n").slice(1, 4)).toEqual([
      `00099,"Examen, ""périodique"" à domicile",examen,4265,acte,both,false,,2015-01-01,,true`,
      code("00103"),
      `00104,Visite,visite,1500,acte,cabinet,true,2,2015-01-01,2030-12-31,false`,
    ]);
    const before = (await outboxEvents(tdb.db)).length;
    expect(await importText(codesSpec, exported)).toEqual({ rows: 3, inserted: 0, updated: 0, unchanged: 3 });
    expect((await outboxEvents(tdb.db)).length).toBe(before);
    expect(await readAll(exportCsv(tdb.db, codesSpec))).toBe(exported);
  });

  test("a changed row is updated and re-versioned; the identical rows keep their version", async () => {
    await importText(codesSpec, file);
    const result = await importText(
      codesSpec,
      `${CODES_HEADER}\n${code("00103", "7000")}\n${lines.at(-1)}\n`,
    );
    expect(result).toEqual({ rows: 2, inserted: 0, updated: 1, unchanged: 1 });
    const ctx = { db: tdb.db, recordChange };
    expect(await getRecord(ctx, codesSpec, "00103")).toMatchObject({ tariff_cents: 7000, version: 2 });
    expect(await getRecord(ctx, codesSpec, "00104")).toMatchObject({ version: 1 });
    const [last] = (await outboxEvents(tdb.db)).slice(-1);
    expect(last?.data).toMatchObject({ op: "imported", keys: ["00103"], count: 1 });
  });

  test("export pages through the table in key order (page size 2 over 3 rows)", async () => {
    await importText(codesSpec, file);
    const paged = await readAll(exportCsv(tdb.db, codesSpec, 2));
    expect(paged).toBe(await readAll(exportCsv(tdb.db, codesSpec)));
    const keys = paged
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.slice(0, 5));
    expect(keys).toEqual(["00099", "00103", "00104"]);
  });

  test("a header with a byte-order mark and upper-case names is read", async () => {
    await importText(codesSpec, file);
    const result = await importText(codesSpec, `\uFEFF${CODES_HEADER.toUpperCase()}\n${code("00103")}\n`);
    expect(result).toEqual({ rows: 1, inserted: 0, updated: 0, unchanged: 1 });
  });
});

describe("contexts: a bad file is refused whole, every bad line named `line.N.column`", () => {
  const HEADER = "code,description,active";

  test("one bad cell: nothing is written, and the error is at line.3.active", async () => {
    const before = await count(tdb.db, "contexts");
    const events = (await outboxEvents(tdb.db)).length;
    const error = await refusal(contextsSpec, `${HEADER}\nAM,Avant-midi,true\nPM,Après-midi,yes\n`);
    expect(error.kind).toBe("unprocessable");
    expect(error.message).toBe("1 problem in the file; nothing was imported");
    expect(error.errors).toEqual([
      { location: "line.3.active", line: 3, column: "active", message: '"yes" is not true or false' },
    ] satisfies LineError[]);
    expect(await count(tdb.db, "contexts")).toBe(before);
    expect((await outboxEvents(tdb.db)).length).toBe(events);
  });

  test("the good rows of a batch already upserted are rolled back when a later line is bad", async () => {
    const good = Array.from({ length: 5 }, (_, i) => `G${i},Bon ${i},true`);
    const error = await importCsv(
      tdb.db,
      contextsSpec,
      csvBody(`${HEADER}\n${good.join("\n")}\nBAD KEY,x,true\n`),
      {
        recordChange,
        batchSize: 2,
      },
    ).then(
      () => undefined,
      (e: unknown) => e as DomainError,
    );
    expect(error?.errors?.map((e) => e.location)).toEqual(["line.7.code"]);
    const [row] = rowsOf<{ n: number }>(
      await tdb.db.execute(sql`select count(*)::int as n from contexts where code like 'G%'`),
    );
    expect(row?.n).toBe(0);
  });

  test("every kind of bad line is listed with its line and column", async () => {
    const error = await refusal(
      contextsSpec,
      [
        HEADER,
        "AM,Avant-midi,true", // 2: fine
        "am,lower case,true", // 3: key pattern
        "AM,Again,true", // 4: duplicate of line 2
        "PM,Too,many,fields", // 5: field count
        "XX,,true", // 6: empty description
      ].join("\n"),
    );
    expect(error.errors?.map((e) => [e.location, e.message])).toEqual([
      ["line.3.code", "must be 1–10 upper-case letters, digits or dashes"],
      ["line.4.code", "code AM already appears on line 2"],
      ["line.5", "expected 3 fields, found 4"],
      ["line.6.description", expect.any(String)],
    ]);
    expect(error.details).toEqual({ errorCount: 4 });
  });

  test("past maxReportedErrors the count is exact and the message says only the first are listed", async () => {
    const bad = Array.from({ length: 7 }, (_, i) => `K${i},x,maybe`);
    const error = await importCsv(tdb.db, contextsSpec, csvBody(`${HEADER}\n${bad.join("\n")}\n`), {
      recordChange,
      maxReportedErrors: 3,
    }).then(
      () => undefined,
      (e: unknown) => e as DomainError,
    );
    expect(error?.errors?.map((e) => e.location)).toEqual([
      "line.2.active",
      "line.3.active",
      "line.4.active",
    ]);
    expect(error?.details).toEqual({ errorCount: 7 });
    expect(error?.message).toContain("(the first 3 are listed)");
  });

  test("a wrong header names each missing and unknown column at line 1", async () => {
    const error = await refusal(contextsSpec, "code,label,active\nAM,x,true\n");
    expect(error.errors?.map((e) => e.location)).toEqual(["line.1.description", "line.1.label"]);
    expect(error.message).toBe("The header must be: code,description,active");
  });

  test("an unclosed quote stops the parser and is reported at its line", async () => {
    const error = await refusal(contextsSpec, `${HEADER}\nAM,fine,true\nPM,"never closed,true\n`);
    expect(error.errors).toHaveLength(1);
    expect(error.errors?.[0]).toMatchObject({ line: 3, column: null, location: "line.3" });
  });

  test("invalid UTF-8 is refused at its cell rather than stored as U+FFFD", async () => {
    const latin1 = new Uint8Array([
      ...new TextEncoder().encode(`${HEADER}\nAM,Apr`),
      0xe8,
      ...new TextEncoder().encode("s,true\n"),
    ]);
    const error = await refusal(contextsSpec, latin1);
    expect(error.errors?.[0]).toMatchObject({ location: "line.2.description" });
    expect(error.errors?.[0]?.message).toContain("UTF-8");
  });

  test("an empty file is refused: a header row is expected", async () => {
    const error = await refusal(contextsSpec, "");
    expect(error.kind).toBe("unprocessable");
    expect(error.message).toContain("header");
  });
});

describe("rules: JSON cells", () => {
  const HEADER = rulesSpec.columns.map((c) => c.name).join(",");

  test("params survive import → export → import unchanged, nested objects included", async () => {
    const params = { maxDays: 90, codes: ["00103", "00104"], nested: { ok: true } };
    const line = `too-old,Trop vieux,date,error,true,"${JSON.stringify(params).replace(/"/g, '""')}"`;
    expect(await importText(rulesSpec, `${HEADER}\n${line}\n`)).toMatchObject({ inserted: 1 });
    expect(await getRecord({ db: tdb.db, recordChange }, rulesSpec, "too-old")).toMatchObject({ params });
    // jsonb keeps its own key order, so the exported cell is the same value, not the same text.
    const exported = await readAll(exportCsv(tdb.db, rulesSpec));
    const cell = exported
      .trim()
      .split("\n")[1]
      ?.match(/,"(\{.*\})"$/)?.[1];
    expect(JSON.parse(String(cell).replace(/""/g, '"'))).toEqual(params);
    expect(await importText(rulesSpec, exported)).toEqual({ rows: 1, inserted: 0, updated: 0, unchanged: 1 });
    expect(await readAll(exportCsv(tdb.db, rulesSpec))).toBe(exported);
  });

  test("a params cell that is not JSON is reported at line.N.params", async () => {
    const error = await refusal(rulesSpec, `${HEADER}\nr1,R,date,error,true,{not json}\n`);
    expect(error.errors).toEqual([
      { location: "line.2.params", line: 2, column: "params", message: "is not valid JSON" },
    ]);
  });
});
