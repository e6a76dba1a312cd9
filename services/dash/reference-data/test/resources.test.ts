import { beforeAll, describe, expect, test } from "bun:test";
import { expectProblem, type Json, listAll, locationsOf, type Resource, useReferenceApp } from "./helpers.ts";

const t = useReferenceApp();

type ResourceCase = {
  resource: Exclude<Resource, "codes">;
  key: string;
  header: string;
  /** Three records; the first has an accented word for `q`. */
  records: [Json, Json, Json];
  /** A record created, patched and deleted by the lifecycle tests. */
  extra: Json;
  patch: Json;
  /** `q` values that must find records[0] only. */
  search: string[];
  /** Query string → indexes of `records` it keeps. */
  filters: [string, number[]][];
  badQuery: [string, string][];
  badBody: [Json, string][];
  badKey: string;
  unknownKey: string;
  /** A CSV line (for `header`) with a new key. */
  csvLine: string;
};

const cases: ResourceCase[] = [
  {
    resource: "contexts",
    key: "code",
    header: "code,description,active",
    records: [
      { code: "T-ACC", description: "Accès à l'urgence, de nuit", active: true },
      { code: "T-OLD", description: "Ancien contexte", active: false },
      { code: "T-PM", description: "Après-midi", active: true },
    ],
    extra: { code: "T-XTRA", description: "Contexte temporaire", active: true },
    patch: { description: "Contexte modifié", active: false },
    search: ["acces a l'urgence", "ACCÈS À L'URGENCE"],
    filters: [
      ["active=false", [1]],
      ["active=true", [0, 2]],
    ],
    badQuery: [["active=1", "query.active"]],
    badBody: [
      [{ active: "oui" }, "body.active"],
      [{ code: "t-lower" }, "body.code"],
      [{ description: "" }, "body.description"],
    ],
    badKey: "lower-case",
    unknownKey: "T-NONE",
    csvLine: "T-CSV,Importé du CSV,true",
  },
  {
    resource: "establishments",
    key: "number",
    header: "number,name,type,region,active",
    records: [
      { number: "60001", name: "CLSC Accès-Santé de Rosemont", type: "CLSC", region: "06", active: true },
      { number: "60002", name: "Centre hospitalier de Lévis", type: "CH", region: "03", active: false },
      { number: "60003", name: "CLSC de Charlesbourg", type: "CLSC", region: "03", active: true },
    ],
    extra: { number: "60009", name: "GMF temporaire", type: "GMF", region: "12", active: true },
    patch: { name: "GMF renommé", region: "13" },
    search: ["acces-sante", "ACCÈS-SANTÉ"],
    filters: [
      ["type=CLSC", [0, 2]],
      ["region=03", [1, 2]],
      ["type=CLSC&region=03", [2]],
      ["active=false", [1]],
      ["type=CHSLD", []],
    ],
    badQuery: [
      ["region=19", "query.region"],
      ["region=6", "query.region"],
      ["active=no", "query.active"],
    ],
    badBody: [
      [{ region: "99" }, "body.region"],
      [{ number: "1234" }, "body.number"],
      [{ type: "" }, "body.type"],
    ],
    badKey: "12ab5",
    unknownKey: "69999",
    csvLine: "60100,Importé du CSV,CH,05,true",
  },
  {
    resource: "rules",
    key: "id",
    header: "id,name,category,severity,enabled,params",
    records: [
      {
        id: "test-acces",
        name: "Accès refusé",
        category: "date",
        severity: "error",
        enabled: true,
        params: { maxDays: 90, nested: { list: [1, "deux"] } },
      },
      {
        id: "test-off",
        name: "Règle désactivée",
        category: "code",
        severity: "warning",
        enabled: false,
        params: {},
      },
      { id: "test-info", name: "Information", category: "date", severity: "info", enabled: true, params: {} },
    ],
    extra: {
      id: "test-extra",
      name: "Temporaire",
      category: "code",
      severity: "info",
      enabled: true,
      params: {},
    },
    patch: { severity: "warning", params: { threshold: 3 } },
    search: ["acces refuse", "ACCÈS REFUSÉ"],
    filters: [
      ["category=date", [0, 2]],
      ["severity=warning", [1]],
      ["active=false", [1]],
      ["active=true&category=date&severity=info", [2]],
    ],
    badQuery: [
      ["severity=fatal", "query.severity"],
      ["active=enabled", "query.active"],
    ],
    badBody: [
      [{ params: [] }, "body.params"],
      [{ severity: "fatal" }, "body.severity"],
      [{ id: "Not A Slug" }, "body.id"],
    ],
    badKey: "Bad_Id",
    unknownKey: "no-such-rule",
    csvLine: 'test-csv,Importé du CSV,code,error,true,"{""a"":1}"',
  },
];

/** A record as one CSV line in `header` order: objects as quoted JSON, the rest as text. */
function csvLineOf(header: string, record: Json): string {
  return header
    .split(",")
    .map((name) => {
      const value = record[name];
      return typeof value === "object" ? `"${JSON.stringify(value).replace(/"/g, '""')}"` : String(value);
    })
    .join(",");
}

for (const c of cases) {
  const base = `/api/${c.resource}`;
  const keyOf = (record: Json) => String(record[c.key]);
  const fixtureKeys = c.records.map(keyOf);
  const keysIn = (items: Json[]) => items.map(keyOf).filter((k) => fixtureKeys.includes(k));
  const etagOf = async (key: string) =>
    (await t.request("GET", `${base}/${key}`, { as: "viewer" })).headers.get("etag") as string;

  describe(c.resource, () => {
    beforeAll(async () => {
      for (const record of c.records) {
        const res = await t.request("POST", base, { as: "editor", json: record });
        expect(res.status).toBe(201);
      }
    });

    test("POST → 201 with the record, Location and ETag", async () => {
      const res = await t.request("POST", base, { as: "editor", json: c.extra });
      expect(res.status).toBe(201);
      expect(res.headers.get("location")).toBe(`${base}/${keyOf(c.extra)}`);
      expect(res.headers.get("etag")).toMatch(/^"[^"]+"$/);
      expect(await res.json()).toMatchObject({ ...c.extra, version: 1 });
    });

    test("POST an existing key → 409", async () => {
      const res = await t.request("POST", base, {
        json: c.records[0],
        headers: { "x-request-id": `req-${c.resource}-409` },
      });
      await expectProblem(res, 409, `req-${c.resource}-409`);
    });

    test("POST an invalid body → 400 at the field", async () => {
      for (const [override, location] of c.badBody) {
        const res = await t.request("POST", base, {
          json: { ...c.extra, ...override },
          headers: { "x-request-id": `req-${c.resource}-400` },
        });
        const problem = await expectProblem(res, 400, `req-${c.resource}-400`);
        expect(locationsOf(problem)).toEqual([location]);
      }
    });

    test("GET one → 200 with ETag and Cache-Control; 304 with If-None-Match", async () => {
      const key = fixtureKeys[0] as string;
      const res = await t.request("GET", `${base}/${encodeURIComponent(key)}`, { as: "viewer" });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe("private, no-cache");
      const etag = res.headers.get("etag") as string;
      expect(etag).toMatch(/^"[^"]+"$/);
      expect(await res.json()).toMatchObject({ ...c.records[0], version: 1 });

      const cached = await t.request("GET", `${base}/${key}`, { headers: { "if-none-match": etag } });
      expect(cached.status).toBe(304);
    });

    test("GET an unknown key → 404; a malformed key → 400 at the path", async () => {
      const missing = await t.request("GET", `${base}/${c.unknownKey}`, {
        headers: { "x-request-id": `req-${c.resource}-404` },
      });
      await expectProblem(missing, 404, `req-${c.resource}-404`);
      const malformed = await t.request("GET", `${base}/${c.badKey}`, {
        headers: { "x-request-id": `req-${c.resource}-path` },
      });
      const problem = await expectProblem(malformed, 400, `req-${c.resource}-path`);
      expect(locationsOf(problem)).toEqual([`path.${c.key}`]);
    });

    test("GET the list: pages walk every row once; ETag, Cache-Control and 304", async () => {
      const all = await listAll(t, base, c.key, 500);
      for (const limit of [1, 2]) {
        const walked = await listAll(t, base, c.key, limit);
        expect(walked.map(keyOf)).toEqual(all.map(keyOf));
      }
      expect(keysIn(all).sort()).toEqual([...fixtureKeys].sort());

      const res = await t.request("GET", `${base}?limit=2`, { as: "viewer" });
      expect(res.headers.get("cache-control")).toBe("private, no-cache");
      const etag = res.headers.get("etag") as string;
      const cached = await t.request("GET", `${base}?limit=2`, { headers: { "if-none-match": etag } });
      expect(cached.status).toBe(304);
    });

    test("GET the list with a bad limit or cursor → 400", async () => {
      const limit = await t.request("GET", `${base}?limit=501`, { headers: { "x-request-id": "req-limit" } });
      expect(locationsOf(await expectProblem(limit, 400, "req-limit"))).toEqual(["query.limit"]);
      const cursor = await t.request("GET", `${base}?cursor=%25%25`, {
        headers: { "x-request-id": "req-cur" },
      });
      expect(locationsOf(await expectProblem(cursor, 400, "req-cur"))).toEqual(["query.cursor"]);
    });

    test("filters", async () => {
      for (const [query, indexes] of c.filters) {
        const items = await listAll(t, `${base}?${query}`, c.key);
        expect({ query, keys: keysIn(items).sort() }).toEqual({
          query,
          keys: indexes.map((i) => fixtureKeys[i] as string).sort(),
        });
      }
    });

    test("invalid filter values → 400 at the query parameter", async () => {
      for (const [query, location] of c.badQuery) {
        const res = await t.request("GET", `${base}?${query}`, { headers: { "x-request-id": "req-filter" } });
        expect(locationsOf(await expectProblem(res, 400, "req-filter"))).toEqual([location]);
      }
    });

    test("q is case- and accent-insensitive", async () => {
      for (const q of c.search) {
        const items = await listAll(t, `${base}?q=${encodeURIComponent(q)}`, c.key);
        expect(items.map(keyOf)).toEqual([fixtureKeys[0] as string]);
      }
    });

    test("PATCH: 428 without If-Match, 412 when stale, 200 with the ETag, * accepted", async () => {
      const key = keyOf(c.extra);
      const path = `${base}/${key}`;
      const required = await t.request("PATCH", path, {
        as: "editor",
        json: c.patch,
        headers: { "x-request-id": "req-428" },
      });
      await expectProblem(required, 428, "req-428");

      const etag = await etagOf(key);
      const res = await t.request("PATCH", path, {
        as: "editor",
        json: c.patch,
        headers: { "if-match": etag },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ...c.extra, ...c.patch, version: 2 });
      const newTag = res.headers.get("etag");
      expect(newTag).not.toBe(etag);
      expect(await etagOf(key)).toBe(newTag as string);

      const stale = await t.request("PATCH", path, {
        json: c.patch,
        headers: { "if-match": etag, "x-request-id": "req-412" },
      });
      await expectProblem(stale, 412, "req-412");

      // An empty patch changes nothing, so it does not bump the version.
      const any = await t.request("PATCH", path, { json: {}, headers: { "if-match": "*" } });
      expect(any.status).toBe(200);
      expect(((await any.json()) as Json).version).toBe(2);
    });

    test("PATCH: 404 for an unknown key, 400 for a bad field or the key itself", async () => {
      const missing = await t.request("PATCH", `${base}/${c.unknownKey}`, {
        json: c.patch,
        headers: { "if-match": "*" },
      });
      await expectProblem(missing, 404);
      const [override, location] = c.badBody[0] as [Json, string];
      const bad = await t.request("PATCH", `${base}/${keyOf(c.extra)}`, {
        json: override,
        headers: { "if-match": "*", "x-request-id": "req-patch-400" },
      });
      expect(locationsOf(await expectProblem(bad, 400, "req-patch-400"))).toEqual([location]);
      const rekey = await t.request("PATCH", `${base}/${keyOf(c.extra)}`, {
        json: { [c.key]: c.extra[c.key] },
        headers: { "if-match": "*" },
      });
      await expectProblem(rekey, 400);
    });

    test("DELETE → 204, then GET → 404 and DELETE → 404", async () => {
      const path = `${base}/${keyOf(c.extra)}`;
      const res = await t.request("DELETE", path, { as: "admin" });
      expect(res.status).toBe(204);
      await expectProblem(await t.request("GET", path), 404);
      await expectProblem(await t.request("DELETE", path), 404);
      const malformed = await t.request("DELETE", `${base}/${c.badKey}`);
      expect(locationsOf(await expectProblem(malformed, 400))).toEqual([`path.${c.key}`]);
    });

    test("import a new row, then export → import round-trips", async () => {
      const res = await t.importCsv(c.resource, `${c.header}\n${c.csvLine}\n`);
      expect(await res.json()).toEqual({ rows: 1, inserted: 1, updated: 0, unchanged: 0 });

      const exported = await t.exportCsv(c.resource);
      expect(exported.split("\n")[0]).toBe(c.header);
      const rows = (await listAll(t, base, c.key)).length;
      const again = await t.importCsv(c.resource, exported);
      expect(await again.json()).toEqual({ rows, inserted: 0, updated: 0, unchanged: rows });
      // The exported record reads back exactly as created.
      const first = await t.request("GET", `${base}/${fixtureKeys[0]}`);
      expect(await first.json()).toMatchObject({ ...c.records[0], version: 1 });
    });

    test("import with a bad line → 422 and nothing written", async () => {
      const bad = c.csvLine.replace(/true/, "maybe").replace(/^[^,]+/, fixtureKeys[1] as string);
      const file = `${c.header}\n${csvLineOf(c.header, c.extra)}\n${bad}\n`;
      const res = await t.importCsv(c.resource, file);
      const problem = await expectProblem(res, 422);
      expect(problem.errors?.map((e) => [e.line, e.column])).toEqual([
        [3, "enabled" in c.extra ? "enabled" : "active"],
      ]);
      // The valid line 2 (the deleted extra record) was not written.
      expect((await t.request("GET", `${base}/${keyOf(c.extra)}`)).status).toBe(404);
      expect(((await (await t.request("GET", `${base}/${fixtureKeys[1]}`)).json()) as Json).version).toBe(1);
    });
  });
}
