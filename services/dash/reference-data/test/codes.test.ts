import { beforeAll, describe, expect, test } from "bun:test";
import { codeInput, expectProblem, type Json, listAll, locationsOf, useReferenceApp } from "./helpers.ts";

const t = useReferenceApp();

async function createCode(code: string, overrides: Json = {}) {
  const res = await t.request("POST", "/api/codes", { as: "editor", json: codeInput(code, overrides) });
  expect(res.status).toBe(201);
  return (await res.json()) as Json;
}

async function etagOf(code: string): Promise<string> {
  const res = await t.request("GET", `/api/codes/${code}`, { as: "viewer" });
  expect(res.status).toBe(200);
  return res.headers.get("etag") as string;
}

describe("POST /api/codes", () => {
  test("201 with the record, Location and ETag", async () => {
    const input = codeInput("10001", { max_per_day: 2, effective_to: "2030-12-31" });
    const res = await t.request("POST", "/api/codes", { as: "editor", json: input });
    expect(res.status).toBe(201);
    expect(res.headers.get("location")).toBe("/api/codes/10001");
    expect(res.headers.get("etag")).toMatch(/^"[^"]+"$/);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({ ...input, version: 1 });
    expect(Number.isNaN(Date.parse(String(body.updated_at)))).toBe(false);
    expect(body).not.toHaveProperty("search_text");

    const get = await t.request("GET", "/api/codes/10001", { as: "viewer" });
    expect(get.headers.get("etag")).toBe(res.headers.get("etag"));
    expect(await get.json()).toEqual(body);
  });

  test("409 when the code exists, and the stored row is untouched", async () => {
    await createCode("10002");
    const res = await t.request("POST", "/api/codes", {
      json: codeInput("10002", { description: "Autre" }),
      headers: { "x-request-id": "req-codes-409" },
    });
    const problem = await expectProblem(res, 409, "req-codes-409");
    expect(problem.detail).toContain("10002");
    const get = await t.request("GET", "/api/codes/10002");
    expect(((await get.json()) as Json).description).toBe("Code de test 10002");
  });

  test("400 locates every invalid field in the body", async () => {
    const res = await t.request("POST", "/api/codes", {
      json: codeInput("1000", { tariff_cents: "cher", place_of_service: "hopital" }),
      headers: { "x-request-id": "req-codes-400-body" },
    });
    const problem = await expectProblem(res, 400, "req-codes-400-body");
    expect(locationsOf(problem)).toEqual(
      expect.arrayContaining(["body.code", "body.tariff_cents", "body.place_of_service"]),
    );
    for (const error of problem.errors ?? []) expect(error.message.length).toBeGreaterThan(0);
  });

  test("400 for a missing field, a negative tariff and effective_to before effective_from", async () => {
    const { unit: _unit, ...noUnit } = codeInput("10003");
    const missing = await expectProblem(await t.request("POST", "/api/codes", { json: noUnit }), 400);
    expect(locationsOf(missing)).toEqual(["body.unit"]);

    const negative = await t.request("POST", "/api/codes", {
      json: codeInput("10003", { tariff_cents: -1 }),
    });
    expect(locationsOf(await expectProblem(negative, 400))).toEqual(["body.tariff_cents"]);

    const reversed = await t.request("POST", "/api/codes", {
      json: codeInput("10003", { effective_from: "2024-01-01", effective_to: "2023-12-31" }),
    });
    expect(locationsOf(await expectProblem(reversed, 400))).toEqual(["body.effective_to"]);
    expect((await t.request("GET", "/api/codes/10003")).status).toBe(404);
  });

  test("400, not 500, for a tariff or max_per_day beyond the integer column (2^31 - 1)", async () => {
    for (const field of ["tariff_cents", "max_per_day"]) {
      const res = await t.request("POST", "/api/codes", {
        json: codeInput("10005", { [field]: 3_000_000_000 }),
        headers: { "x-request-id": "req-codes-int32" },
      });
      expect(locationsOf(await expectProblem(res, 400, "req-codes-int32"))).toEqual([`body.${field}`]);
    }
    expect(
      (await t.request("POST", "/api/codes", { json: codeInput("10005", { tariff_cents: 2_147_483_647 }) }))
        .status,
    ).toBe(201);
  });

  test("400, not 500, for a NUL character in a text field", async () => {
    const res = await t.request("POST", "/api/codes", {
      json: codeInput("10006", { description: "avant\u0000après" }),
      headers: { "x-request-id": "req-codes-nul" },
    });
    expect(locationsOf(await expectProblem(res, 400, "req-codes-nul"))).toEqual(["body.description"]);
  });

  test("415 or 400 (never 2xx or 500) for a body that is not JSON", async () => {
    const res = await t.request("POST", "/api/codes", {
      body: JSON.stringify(codeInput("10007")),
      headers: { "content-type": "text/plain" },
    });
    expect([400, 415]).toContain(res.status);
    await expectProblem(res, res.status);
    expect((await t.request("GET", "/api/codes/10007")).status).toBe(404);
  });

  test("400 for malformed JSON", async () => {
    const res = await t.request("POST", "/api/codes", {
      body: '{"code": "10004",',
      headers: { "content-type": "application/json", "x-request-id": "req-codes-bad-json" },
    });
    await expectProblem(res, 400, "req-codes-bad-json");
  });
});

describe("GET /api/codes/{code}", () => {
  beforeAll(async () => {
    await createCode("11001");
  });

  test("200 with ETag and Cache-Control: private, no-cache", async () => {
    const res = await t.request("GET", "/api/codes/11001", { as: "viewer" });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toMatch(/^"[^"]+"$/);
    expect(res.headers.get("cache-control")).toBe("private, no-cache");
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(((await res.json()) as Json).code).toBe("11001");
  });

  test("304 when If-None-Match names the current ETag, 200 once it is stale", async () => {
    const etag = await etagOf("11001");
    const res = await t.request("GET", "/api/codes/11001", {
      as: "viewer",
      headers: { "if-none-match": etag },
    });
    expect(res.status).toBe(304);
    expect(res.headers.get("etag")).toBe(etag);
    expect(res.headers.get("cache-control")).toBe("private, no-cache");
    expect(await res.text()).toBe("");

    const patched = await t.request("PATCH", "/api/codes/11001", {
      json: { unit: "visite" },
      headers: { "if-match": etag },
    });
    expect(patched.status).toBe(200);
    const again = await t.request("GET", "/api/codes/11001", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(200);
    expect(again.headers.get("etag")).not.toBe(etag);
  });

  test("404 for an unknown code", async () => {
    const res = await t.request("GET", "/api/codes/99998", { headers: { "x-request-id": "req-codes-404" } });
    const problem = await expectProblem(res, 404, "req-codes-404");
    expect(problem.detail).toContain("99998");
  });

  test("400 at path.code for a malformed code", async () => {
    const res = await t.request("GET", "/api/codes/abc", {
      headers: { "x-request-id": "req-codes-400-path" },
    });
    const problem = await expectProblem(res, 400, "req-codes-400-path");
    expect(locationsOf(problem)).toEqual(["path.code"]);
  });
});

describe("PATCH /api/codes/{code}", () => {
  beforeAll(async () => {
    await createCode("12001");
    await createCode("12002");
    await createCode("12003");
  });

  test("200 with If-Match: applies only the sent fields, bumps version, returns the new ETag", async () => {
    const etag = await etagOf("12001");
    const res = await t.request("PATCH", "/api/codes/12001", {
      as: "editor",
      json: { tariff_cents: 4321, description: "Nouvelle description" },
      headers: { "if-match": etag },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({
      code: "12001",
      tariff_cents: 4321,
      description: "Nouvelle description",
      unit: "acte",
      version: 2,
    });
    const newTag = res.headers.get("etag");
    expect(newTag).not.toBe(etag);
    expect(await etagOf("12001")).toBe(newTag as string);
  });

  test("412 with a stale If-Match, and the row is unchanged", async () => {
    const stale = await etagOf("12002");
    await t.request("PATCH", "/api/codes/12002", { json: { unit: "heure" }, headers: { "if-match": stale } });
    const res = await t.request("PATCH", "/api/codes/12002", {
      json: { unit: "minute" },
      headers: { "if-match": stale, "x-request-id": "req-codes-412" },
    });
    await expectProblem(res, 412, "req-codes-412");
    expect(res.headers.get("etag")).toBe(await etagOf("12002"));
    const get = (await (await t.request("GET", "/api/codes/12002")).json()) as Json;
    expect(get).toMatchObject({ unit: "heure", version: 2 });
  });

  test("428 without If-Match", async () => {
    const res = await t.request("PATCH", "/api/codes/12003", {
      json: { unit: "minute" },
      headers: { "x-request-id": "req-codes-428" },
    });
    await expectProblem(res, 428, "req-codes-428");
    expect(((await (await t.request("GET", "/api/codes/12003")).json()) as Json).version).toBe(1);
  });

  test("If-Match: * is accepted", async () => {
    const res = await t.request("PATCH", "/api/codes/12003", {
      json: { active: false },
      headers: { "if-match": "*" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ active: false, version: 2 });
  });

  test("a list of ETags matches when one of them is current", async () => {
    const current = await etagOf("12003");
    const res = await t.request("PATCH", "/api/codes/12003", {
      json: { active: true },
      headers: { "if-match": `"0-old", ${current}` },
    });
    expect(res.status).toBe(200);
  });

  test("404 for an unknown code", async () => {
    const res = await t.request("PATCH", "/api/codes/99997", {
      json: { unit: "acte" },
      headers: { "if-match": "*", "x-request-id": "req-codes-patch-404" },
    });
    await expectProblem(res, 404, "req-codes-patch-404");
  });

  test("400 for an invalid field, an unknown field or the key itself", async () => {
    const bad = await t.request("PATCH", "/api/codes/12003", {
      json: { tariff_cents: 1.5 },
      headers: { "if-match": "*", "x-request-id": "req-codes-patch-400" },
    });
    expect(locationsOf(await expectProblem(bad, 400, "req-codes-patch-400"))).toEqual(["body.tariff_cents"]);

    const unknown = await t.request("PATCH", "/api/codes/12003", {
      json: { colour: "red" },
      headers: { "if-match": "*" },
    });
    expect((await expectProblem(unknown, 400)).errors?.length).toBeGreaterThan(0);

    const rekey = await t.request("PATCH", "/api/codes/12003", {
      json: { code: "12999" },
      headers: { "if-match": "*" },
    });
    await expectProblem(rekey, 400);
    expect((await t.request("GET", "/api/codes/12999")).status).toBe(404);
  });

  test("400 at path.code for a malformed code", async () => {
    const res = await t.request("PATCH", "/api/codes/12", {
      json: { unit: "x" },
      headers: { "if-match": "*" },
    });
    expect(locationsOf(await expectProblem(res, 400))).toEqual(["path.code"]);
  });

  test("400, not 500, for a tariff beyond the integer column", async () => {
    const res = await t.request("PATCH", "/api/codes/12001", {
      json: { tariff_cents: 2_147_483_648 },
      headers: { "if-match": "*", "x-request-id": "req-codes-patch-int32" },
    });
    expect(locationsOf(await expectProblem(res, 400, "req-codes-patch-int32"))).toEqual([
      "body.tariff_cents",
    ]);
  });

  test("an effective_to before the stored effective_from is a 400 problem, not a server error", async () => {
    const res = await t.request("PATCH", "/api/codes/12001", {
      json: { effective_to: "2019-12-31" },
      headers: { "if-match": "*", "x-request-id": "req-codes-patch-dates" },
    });
    const problem = await expectProblem(res, 400, "req-codes-patch-dates");
    expect(locationsOf(problem)).toEqual(["body.effective_to"]);
  });
});

describe("DELETE /api/codes/{code}", () => {
  test("204, then GET is 404 and a second DELETE is 404", async () => {
    await createCode("13001");
    const res = await t.request("DELETE", "/api/codes/13001", { as: "admin" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    await expectProblem(await t.request("GET", "/api/codes/13001"), 404);
    await expectProblem(await t.request("DELETE", "/api/codes/13001"), 404);
  });

  test("the code can be created again, with a different ETag", async () => {
    const first = await createCode("13002");
    const tag = await etagOf("13002");
    expect((await t.request("DELETE", "/api/codes/13002")).status).toBe(204);
    const again = await createCode("13002");
    expect(again.version).toBe(first.version);
    expect(await etagOf("13002")).not.toBe(tag);
  });

  test("400 at path.code for a malformed code", async () => {
    const res = await t.request("DELETE", "/api/codes/x", {
      headers: { "x-request-id": "req-codes-del-400" },
    });
    expect(locationsOf(await expectProblem(res, 400, "req-codes-del-400"))).toEqual(["path.code"]);
  });
});

describe("GET /api/codes", () => {
  const pageCodes = Array.from({ length: 23 }, (_, i) => String(20000 + i));

  beforeAll(async () => {
    for (const code of pageCodes) await createCode(code, { category: "pagination" });
    await createCode("21001", {
      category: "filtres",
      description: "Accès vasculaire, installation",
      effective_from: "2015-01-01",
      effective_to: "2019-12-31",
      active: false,
      place_of_service: "etablissement",
    });
    await createCode("21002", {
      category: "filtres",
      description: "Ponction veineuse",
      effective_from: "2015-01-01",
      effective_to: null,
    });
    await createCode("21003", {
      category: "filtres",
      description: "Code futur à 100 %",
      effective_from: "2099-01-01",
      place_of_service: "cabinet",
    });
  });

  test("200 with items, nextCursor, ETag and Cache-Control", async () => {
    const res = await t.request("GET", "/api/codes?category=pagination&limit=5", { as: "viewer" });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toMatch(/"[^"]+"$/);
    expect(res.headers.get("cache-control")).toBe("private, no-cache");
    const page = (await res.json()) as { items: Json[]; nextCursor: string | null };
    expect(page.items.map((c) => c.code)).toEqual(pageCodes.slice(0, 5));
    expect(typeof page.nextCursor).toBe("string");
    expect(page.items[0]).not.toHaveProperty("search_text");
  });

  test("limit + cursor walks every row exactly once, in key order", async () => {
    for (const limit of [1, 5, 7, 23, 50]) {
      const items = await listAll(t, "/api/codes?category=pagination", "code", limit);
      expect(items.map((c) => c.code)).toEqual(pageCodes);
    }
  });

  test("walking the whole table unfiltered sees each row once", async () => {
    const all = await listAll(t, "/api/codes", "code", 4);
    const keys = all.map((c) => String(c.code));
    expect(keys).toEqual([...keys].sort());
    expect(keys).toEqual(expect.arrayContaining([...pageCodes, "21001", "21002", "21003"]));
  });

  test("the last page has nextCursor null", async () => {
    const res = await t.request("GET", "/api/codes?category=pagination&limit=23");
    expect(((await res.json()) as Json).nextCursor).toBeNull();
  });

  test("304 when If-None-Match names the page's ETag, 200 after a change", async () => {
    const first = await t.request("GET", "/api/codes?category=pagination&limit=3");
    const etag = first.headers.get("etag") as string;
    const cached = await t.request("GET", "/api/codes?category=pagination&limit=3", {
      headers: { "if-none-match": etag },
    });
    expect(cached.status).toBe(304);
    expect(await cached.text()).toBe("");

    await t.request("PATCH", `/api/codes/${pageCodes[0]}`, {
      json: { tariff_cents: 1111 },
      headers: { "if-match": "*" },
    });
    const changed = await t.request("GET", "/api/codes?category=pagination&limit=3", {
      headers: { "if-none-match": etag },
    });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
  });

  test("400 at query.cursor for a cursor this API did not issue", async () => {
    for (const cursor of ["not-a-cursor!", "bnVsbA", "eyJrIjoxfQ"]) {
      const res = await t.request("GET", `/api/codes?cursor=${cursor}`, {
        headers: { "x-request-id": "req-codes-cursor" },
      });
      const problem = await expectProblem(res, 400, "req-codes-cursor");
      expect(locationsOf(problem)).toEqual(["query.cursor"]);
    }
  });

  test("400 at query.limit outside 1..500", async () => {
    for (const limit of ["501", "0", "-1", "abc", "2.5"]) {
      const res = await t.request("GET", `/api/codes?limit=${limit}`, {
        headers: { "x-request-id": "req-codes-limit" },
      });
      expect(locationsOf(await expectProblem(res, 400, "req-codes-limit"))).toEqual(["query.limit"]);
    }
    expect((await t.request("GET", "/api/codes?limit=500")).status).toBe(200);
  });

  test("filter by category and active", async () => {
    const filtres = await listAll(t, "/api/codes?category=filtres", "code");
    expect(filtres.map((c) => c.code)).toEqual(["21001", "21002", "21003"]);
    const inactive = await listAll(t, "/api/codes?category=filtres&active=false", "code");
    expect(inactive.map((c) => c.code)).toEqual(["21001"]);
    const active = await listAll(t, "/api/codes?category=filtres&active=true", "code");
    expect(active.map((c) => c.code)).toEqual(["21002", "21003"]);
  });

  test("filter by place_of_service", async () => {
    const cabinet = await listAll(t, "/api/codes?category=filtres&place_of_service=cabinet", "code");
    expect(cabinet.map((c) => c.code)).toEqual(["21003"]);
  });

  test("effective_on keeps codes in effect that day: not expired, not yet future", async () => {
    const today = await listAll(t, "/api/codes?category=filtres&effective_on=2026-06-15", "code");
    expect(today.map((c) => c.code)).toEqual(["21002"]);
    const past = await listAll(t, "/api/codes?category=filtres&effective_on=2018-06-15", "code");
    expect(past.map((c) => c.code)).toEqual(["21001", "21002"]);
    const lastDay = await listAll(t, "/api/codes?category=filtres&effective_on=2019-12-31", "code");
    expect(lastDay.map((c) => c.code)).toEqual(["21001", "21002"]);
    const future = await listAll(t, "/api/codes?category=filtres&effective_on=2099-01-01", "code");
    expect(future.map((c) => c.code)).toEqual(["21002", "21003"]);
  });

  test("400 for invalid filter values", async () => {
    const cases: [string, string][] = [
      ["active=yes", "query.active"],
      ["effective_on=2026-13-01", "query.effective_on"],
      ["effective_on=today", "query.effective_on"],
      ["place_of_service=hopital", "query.place_of_service"],
    ];
    for (const [query, location] of cases) {
      const res = await t.request("GET", `/api/codes?${query}`, {
        headers: { "x-request-id": "req-filter" },
      });
      expect(locationsOf(await expectProblem(res, 400, "req-filter"))).toEqual([location]);
    }
  });

  test("q is case- and accent-insensitive", async () => {
    for (const q of ["acces", "ACCÈS", "Accès", "accÈs", "VASCULAIRE"]) {
      const items = await listAll(t, `/api/codes?q=${encodeURIComponent(q)}`, "code");
      expect(items.map((c) => c.code)).toEqual(["21001"]);
    }
  });

  test("q matches the code too, and combines with filters", async () => {
    const byKey = await listAll(t, "/api/codes?q=2100", "code");
    expect(byKey.map((c) => c.code)).toEqual(["21001", "21002", "21003"]);
    const combined = await listAll(t, "/api/codes?q=2100&active=false", "code");
    expect(combined.map((c) => c.code)).toEqual(["21001"]);
  });

  test("q treats % and _ literally", async () => {
    const percent = await listAll(t, `/api/codes?q=${encodeURIComponent("100 %")}`, "code");
    expect(percent.map((c) => c.code)).toEqual(["21003"]);
    const underscore = await listAll(t, "/api/codes?q=_", "code");
    expect(underscore).toEqual([]);
  });

  test("q reflects a PATCHed description", async () => {
    await t.request("PATCH", "/api/codes/21002", {
      json: { description: "Ponction ÉPIDURALE" },
      headers: { "if-match": "*" },
    });
    const items = await listAll(t, "/api/codes?q=epidurale", "code");
    expect(items.map((c) => c.code)).toEqual(["21002"]);
    expect(await listAll(t, "/api/codes?q=veineuse", "code")).toEqual([]);
  });

  test("400 at query.q for an empty search", async () => {
    const res = await t.request("GET", "/api/codes?q=");
    expect(locationsOf(await expectProblem(res, 400))).toEqual(["query.q"]);
  });
});
