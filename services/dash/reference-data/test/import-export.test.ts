import { describe, expect, test } from "bun:test";
import {
  CODE_HEADER,
  codeLine,
  expectProblem,
  type Json,
  listAll,
  locationsOf,
  useReferenceApp,
} from "./helpers.ts";

const t = useReferenceApp();

const csv = (...lines: string[]) => `${[CODE_HEADER, ...lines].join("\n")}\n`;

async function importOk(body: BodyInit, expected: Json) {
  const res = await t.importCsv("codes", body);
  expect(res.status).toBe(200);
  const result = await res.json();
  expect(result).toEqual(expected);
  return result;
}

async function getCode(code: string): Promise<Json> {
  const res = await t.request("GET", `/api/codes/${code}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

async function countCodes(): Promise<number> {
  return (await listAll(t, "/api/codes", "code")).length;
}

/** A body that arrives one byte per chunk, as a slow client would send it. */
function oneBytePerChunk(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < bytes.length) controller.enqueue(bytes.slice(i, ++i));
      else controller.close();
    },
  });
}

function streamedImport(bytes: Uint8Array) {
  const init = {
    method: "POST",
    headers: { "content-type": "text/csv; charset=utf-8", authorization: "" },
    body: oneBytePerChunk(bytes),
    duplex: "half",
  };
  return t.auth.token({ roles: ["editor"] }).then((token) => {
    init.headers.authorization = `Bearer ${token}`;
    return t.app.request("/api/codes/import", init as RequestInit);
  });
}

describe("POST /api/codes/import", () => {
  test("200 with counts; the same file again is all unchanged", async () => {
    const file = csv(codeLine("30001"), codeLine("30002"), codeLine("30003", { max_per_day: "3" }));
    await importOk(file, { rows: 3, inserted: 3, updated: 0, unchanged: 0 });
    expect(await getCode("30003")).toMatchObject({
      code: "30003",
      description: "Code importé 30003",
      tariff_cents: 2500,
      place_of_service: "cabinet",
      requires_context: false,
      max_per_day: 3,
      effective_from: "2021-01-01",
      effective_to: null,
      active: true,
      version: 1,
    });
    await importOk(file, { rows: 3, inserted: 0, updated: 0, unchanged: 3 });
    expect((await getCode("30001")).version).toBe(1);
  });

  test("a changed row is updated and its version bumped; the others keep theirs", async () => {
    const before = await t.request("GET", "/api/codes/30002");
    const etag = before.headers.get("etag");
    const file = csv(codeLine("30001"), codeLine("30002", { tariff_cents: "2600" }), codeLine("30003"));
    await importOk(file, { rows: 3, inserted: 0, updated: 2, unchanged: 1 });
    const changed = await t.request("GET", "/api/codes/30002");
    expect(await changed.json()).toMatchObject({ tariff_cents: 2600, version: 2 });
    expect(changed.headers.get("etag")).not.toBe(etag);
    expect((await getCode("30001")).version).toBe(1);
    // 30003 lost its max_per_day (3 → empty), so it changed too.
    expect(await getCode("30003")).toMatchObject({ max_per_day: null, version: 2 });
  });

  test("inserts and updates in one file, columns in any order and case", async () => {
    const header =
      "ACTIVE,Code,description,category,tariff_cents,unit,place_of_service,requires_context,max_per_day,effective_from,effective_to";
    const file = `${header}\nfalse,30001,Code importé 30001,import,2500,acte,cabinet,false,,2021-01-01,\ntrue,30004,Nouveau,import,100,acte,both,true,1,2021-01-01,2021-12-31\n`;
    await importOk(file, { rows: 2, inserted: 1, updated: 1, unchanged: 0 });
    expect(await getCode("30001")).toMatchObject({ active: false, version: 2 });
    expect(await getCode("30004")).toMatchObject({
      description: "Nouveau",
      requires_context: true,
      effective_to: "2021-12-31",
    });
  });

  test("a PATCHed row that the file restores counts as updated", async () => {
    await t.request("PATCH", "/api/codes/30004", { json: { unit: "heure" }, headers: { "if-match": "*" } });
    const file = `${CODE_HEADER}\n30004,Nouveau,import,100,acte,both,true,1,2021-01-01,2021-12-31,true\n`;
    await importOk(file, { rows: 1, inserted: 0, updated: 1, unchanged: 0 });
    expect(await getCode("30004")).toMatchObject({ unit: "acte", version: 3 });
  });

  test("all or nothing: 422 lists every bad line, and nothing is written", async () => {
    const countBefore = await countCodes();
    const versionBefore = (await getCode("30002")).version;
    const file = csv(
      codeLine("31001"), // 2: valid and new
      codeLine("30002", { tariff_cents: "9999" }), // 3: valid change to an existing row
      codeLine("31002", { tariff_cents: "12,5" }).replace("12,5", '"12,5"'), // 4: bad int
      codeLine("31003", { active: "oui" }), // 5: bad bool
      codeLine("31004", { place_of_service: "hopital" }), // 6: bad enum
      "31005,Trop court,import,100", // 7: wrong number of fields
      codeLine("31001", { description: "Doublon" }), // 8: key already on line 2
      codeLine("31006", { effective_from: "2022-01-01", effective_to: "2021-12-31" }), // 9: dates reversed
      codeLine("31007", { effective_from: "2021-02-30" }), // 10: no such day
      codeLine("1234"), // 11: bad key
    );
    const res = await t.importCsv("codes", file, { headers: { "x-request-id": "req-import-422" } });
    const problem = await expectProblem(res, 422, "req-import-422");
    const errors = problem.errors as { line: number; column: string | null; message: string }[];
    const found = errors.map((e) => [e.line, e.column]);
    expect(found).toEqual([
      [4, "tariff_cents"],
      [5, "active"],
      [6, "place_of_service"],
      [7, null],
      [8, "code"],
      [9, "effective_to"],
      [10, "effective_from"],
      [11, "code"],
    ]);
    for (const e of errors) expect(e.message.length).toBeGreaterThan(0);
    expect(locationsOf(problem)).toContain("line.4.tariff_cents");
    expect(locationsOf(problem)).toContain("line.7");
    expect(errors[4]?.message).toContain("line 2");
    expect(problem.errorCount).toBe(8);
    expect(problem.detail).toContain("nothing was imported");

    expect((await t.request("GET", "/api/codes/31001")).status).toBe(404);
    expect(await getCode("30002")).toMatchObject({ tariff_cents: 2600, version: versionBefore });
    expect(await countCodes()).toBe(countBefore);
  });

  test("422, not 500, for values the columns cannot hold (int overflow, NUL character)", async () => {
    const file = csv(
      codeLine("31010"),
      codeLine("31011", { tariff_cents: "3000000000" }),
      codeLine("31012", { description: "avant\u0000après" }),
    );
    const res = await t.importCsv("codes", file, { headers: { "x-request-id": "req-import-columns" } });
    const problem = await expectProblem(res, 422, "req-import-columns");
    expect(problem.errors?.map((e) => [e.line, e.column])).toEqual([
      [3, "tariff_cents"],
      [4, "description"],
    ]);
    expect((await t.request("GET", "/api/codes/31010")).status).toBe(404);
  });

  test("all or nothing across batches: a bad line after many good ones writes nothing", async () => {
    const good = Array.from({ length: 1500 }, (_, i) => codeLine(String(40000 + i)));
    const file = csv(...good, codeLine("41999", { requires_context: "1" }));
    const res = await t.importCsv("codes", file);
    const problem = await expectProblem(res, 422);
    expect(problem.errors?.map((e) => [e.line, e.column])).toEqual([[1502, "requires_context"]]);
    expect((await t.request("GET", "/api/codes/40000")).status).toBe(404);
    expect((await t.request("GET", "/api/codes/41499")).status).toBe(404);
  });

  test("422 naming missing and unknown header columns", async () => {
    const header = CODE_HEADER.replace(",unit", "").replace(",active", ",colour");
    const res = await t.importCsv("codes", `${header}\n`, {
      headers: { "x-request-id": "req-import-header" },
    });
    const problem = await expectProblem(res, 422, "req-import-header");
    const errors = problem.errors as { line: number; column: string; message: string }[];
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ line: 1, column: "unit", message: "column is missing" }),
        expect.objectContaining({ line: 1, column: "active", message: "column is missing" }),
        expect.objectContaining({ line: 1, column: "colour", message: "unknown column" }),
      ]),
    );
    expect(errors).toHaveLength(3);
    expect(problem.detail).toContain(CODE_HEADER);
  });

  test("422 for an empty body", async () => {
    const res = await t.importCsv("codes", "", { headers: { "x-request-id": "req-import-empty" } });
    await expectProblem(res, 422, "req-import-empty");
    const blank = await t.importCsv("codes", "\n\n");
    await expectProblem(blank, 422);
  });

  test("a header alone imports nothing", async () => {
    await importOk(`${CODE_HEADER}\n`, { rows: 0, inserted: 0, updated: 0, unchanged: 0 });
  });

  test("415 unless the body is text/csv", async () => {
    const file = csv(codeLine("31100"));
    for (const type of ["application/json", "text/plain", "application/octet-stream"]) {
      const res = await t.importCsv("codes", file, {
        headers: { "content-type": type, "x-request-id": "req-import-415" },
      });
      const problem = await expectProblem(res, 415, "req-import-415");
      expect(problem.detail).toContain(type);
    }
    const none = await t.request("POST", "/api/codes/import", { body: new Blob([file]) });
    await expectProblem(none, 415);
    expect((await t.request("GET", "/api/codes/31100")).status).toBe(404);
    const withCharset = await t.importCsv("codes", file, {
      headers: { "content-type": "text/csv; charset=utf-8" },
    });
    expect(withCharset.status).toBe(200);
  });

  test("422 for an unclosed quote, and nothing is written", async () => {
    const file = csv(codeLine("31200"), codeLine("31201", { description: '"Pas fermé' }));
    const res = await t.importCsv("codes", file, { headers: { "x-request-id": "req-import-quote" } });
    const problem = await expectProblem(res, 422, "req-import-quote");
    expect(problem.errors).toHaveLength(1);
    expect(problem.errors?.[0]?.line).toBeGreaterThanOrEqual(3);
    expect(problem.errors?.[0]?.message).toMatch(/quote/i);
    expect((await t.request("GET", "/api/codes/31200")).status).toBe(404);
  });

  test("quoted fields keep commas, quotes and newlines, and round-trip through export", async () => {
    const description = 'Examen, "complet"\nseconde ligne; fin';
    const quoted = `"${description.replace(/"/g, '""')}"`;
    const file = csv(codeLine("31300", { description: quoted }), codeLine("31301", { active: "false" }));
    await importOk(file, { rows: 2, inserted: 2, updated: 0, unchanged: 0 });
    expect((await getCode("31300")).description).toBe(description);

    const exported = await t.exportCsv("codes");
    expect(exported).toContain(quoted);
    const res = await t.importCsv("codes", exported);
    const result = (await res.json()) as Json;
    expect(result).toMatchObject({ inserted: 0, updated: 0 });
    expect(result.unchanged).toBe(result.rows);
  });

  test("line numbers count physical lines, past a field that spans lines", async () => {
    const file = csv(
      codeLine("31400", { description: '"sur\ndeux lignes"' }), // lines 2-3
      codeLine("31401", { tariff_cents: "beaucoup" }), // line 4
    );
    const problem = await expectProblem(await t.importCsv("codes", file), 422);
    expect(problem.errors?.map((e) => [e.line, e.column])).toEqual([[4, "tariff_cents"]]);
  });

  test("a UTF-8 BOM is accepted", async () => {
    const file = `\uFEFF${csv(codeLine("31500", { description: "Réévaluation" }))}`;
    await importOk(file, { rows: 1, inserted: 1, updated: 0, unchanged: 0 });
    expect((await getCode("31500")).description).toBe("Réévaluation");
  });

  test("CRLF line endings are accepted", async () => {
    const file = csv(codeLine("31550"), codeLine("31551")).replace(/\n/g, "\r\n");
    await importOk(file, { rows: 2, inserted: 2, updated: 0, unchanged: 0 });
    expect((await getCode("31551")).active).toBe(true);
  });

  test("422 at the line holding an invalid UTF-8 byte", async () => {
    const encoder = new TextEncoder();
    const bytes = new Uint8Array([
      ...encoder.encode(csv(codeLine("31600")).trimEnd()),
      ...encoder.encode("\n31601,R"),
      0xe9, // "é" in Latin-1, not UTF-8
      ...encoder.encode(`gie,import,100,acte,both,false,,2021-01-01,,true\n${codeLine("31602")}\n`),
    ]);
    const res = await t.importCsv("codes", bytes, { headers: { "x-request-id": "req-import-utf8" } });
    const problem = await expectProblem(res, 422, "req-import-utf8");
    expect(problem.errors?.map((e) => [e.line, e.column])).toEqual([[3, "description"]]);
    expect(problem.errors?.[0]?.message).toMatch(/UTF-8/);
    expect((await t.request("GET", "/api/codes/31600")).status).toBe(404);
  });

  test("a body streamed one byte per chunk keeps multi-byte characters whole", async () => {
    const file = `\uFEFF${csv(
      codeLine("31700", { description: "Épaule — réduction à l'urgence" }),
      codeLine("31701", { description: "Accès veineux 😀" }),
    )}`;
    const res = await streamedImport(new TextEncoder().encode(file));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ rows: 2, inserted: 2, updated: 0, unchanged: 0 });
    expect((await getCode("31700")).description).toBe("Épaule — réduction à l'urgence");
    expect((await getCode("31701")).description).toBe("Accès veineux 😀");
    const found = await listAll(t, `/api/codes?q=${encodeURIComponent("ACCES VEINEUX")}`, "code");
    expect(found.map((c) => c.code)).toEqual(["31701"]);
  });
});

describe("GET /api/codes/export", () => {
  test("text/csv with the import header, every row in key order", async () => {
    const res = await t.request("GET", "/api/codes/export", { as: "viewer" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(res.headers.get("content-disposition")).toContain("codes.csv");
    const text = await res.text();
    const lines = text.split("\n");
    expect(lines[0]).toBe(CODE_HEADER);
    const all = await listAll(t, "/api/codes", "code");
    const keys = lines
      .slice(1)
      .filter((line) => /^\d{5},/.test(line))
      .map((line) => line.slice(0, 5));
    expect(keys).toEqual(all.map((c) => String(c.code)));
  });

  test("exports nulls as empty cells and values in the import format", async () => {
    const text = await t.exportCsv("codes");
    expect(text).toContain("30004,Nouveau,import,100,acte,both,true,1,2021-01-01,2021-12-31,true\n");
    expect(text).toContain("31301,Code importé 31301,import,2500,acte,cabinet,false,,2021-01-01,,false\n");
  });

  test("export → import round-trips: nothing inserted or updated, versions unchanged", async () => {
    const before = await listAll(t, "/api/codes", "code");
    const res = await t.importCsv("codes", await t.exportCsv("codes"));
    expect(await res.json()).toEqual({
      rows: before.length,
      inserted: 0,
      updated: 0,
      unchanged: before.length,
    });
    expect(await listAll(t, "/api/codes", "code")).toEqual(before);
  });

  test("a row exported, deleted and imported again comes back equal", async () => {
    const original = await getCode("31300");
    const exported = await t.exportCsv("codes");
    expect((await t.request("DELETE", "/api/codes/31300")).status).toBe(204);
    const res = await t.importCsv("codes", exported);
    expect(await res.json()).toMatchObject({ inserted: 1, updated: 0 });
    const { updated_at: _a, ...restored } = await getCode("31300");
    const { updated_at: _b, ...expected } = original;
    expect(restored).toEqual(expected);
  });
});
