import { beforeAll, describe, expect, test } from "bun:test";
import { REFERENCE_SPECS } from "@dash/reference";
import { loadContract } from "./contract.ts";
import { claimsFile, type Json, useMonolithApp } from "./helpers.ts";

// The monolith's real responses against the new services' generated documents, for every operation they share.
// The only difference allowed is the README's: POST /api/validations answers 200 with the finished run
// (checked against getValidation's 200 instead of the 202). `archived` is part of validation's contract.
const t = useMonolithApp();
let referenceData: Awaited<ReturnType<typeof loadContract>>;
let validation: Awaited<ReturnType<typeof loadContract>>;

beforeAll(async () => {
  referenceData = await loadContract("reference-data");
  validation = await loadContract("validation");
});

const samples: Record<string, { key: string; input: Json; patch: Json; csv: string; badCsv: string }> = {
  codes: {
    key: "55501",
    input: {
      code: "55501",
      description: "Visite de contrat",
      category: "visite",
      tariff_cents: 1200,
      unit: "acte",
      place_of_service: "both",
      requires_context: false,
      max_per_day: null,
      effective_from: "2020-01-01",
      effective_to: null,
      active: true,
    },
    patch: { tariff_cents: 1300 },
    csv: "code,description,category,tariff_cents,unit,place_of_service,requires_context,max_per_day,effective_from,effective_to,active\n55502,Importé,visite,100,acte,both,false,,2020-01-01,,true\n",
    badCsv: "code,description\n1,x\n",
  },
  contexts: {
    key: "CT-1",
    input: { code: "CT-1", description: "Contexte", active: true },
    patch: { active: false },
    csv: "code,description,active\nCT-2,Importé,true\n",
    badCsv: "code,description,active\nCT-3,Importé,maybe\n",
  },
  establishments: {
    key: "55503",
    input: { number: "55503", name: "CLSC test", type: "CLSC", region: "06", active: true },
    patch: { name: "CLSC renommé" },
    csv: "number,name,type,region,active\n55504,Importé,CH,06,true\n",
    badCsv: "number,name,type,region,active\n55505,Importé,CH,99,true\n",
  },
  rules: {
    key: "contract-rule",
    input: {
      id: "contract-rule",
      name: "Règle",
      category: "code",
      severity: "info",
      enabled: true,
      params: {},
    },
    patch: { enabled: false },
    csv: "id,name,category,severity,enabled,params\ncontract-imported,Importée,code,info,true,{}\n",
    badCsv: "id,name,category,severity,enabled,params\ncontract-bad,Importée,code,fatal,true,{}\n",
  },
};

describe("reference-data's contract (openapi/reference-data.json)", () => {
  test("the checker fails a body, a status or a media type the document does not allow", async () => {
    const json = (body: unknown, status = 200, type = "application/json") =>
      new Response(JSON.stringify(body), { status, headers: { "content-type": type } });
    const probe = await loadContract("reference-data");
    await expect(
      probe.expectConforms("GET", "/api/codes", json({ items: [{ code: 103 }], nextCursor: null })),
    ).rejects.toThrow();
    await expect(
      probe.expectConforms("GET", "/api/codes", json({ items: [], nextCursor: null }, 418)),
    ).rejects.toThrow();
    await expect(
      probe.expectConforms("GET", "/api/codes", json({ items: [], nextCursor: null }, 200, "text/plain")),
    ).rejects.toThrow();
    await expect(probe.expectConforms("GET", "/api/nothing", json({}))).rejects.toThrow();
    expect(
      await probe.expectConforms("GET", "/api/codes", json({ items: [], nextCursor: null })),
    ).toBeDefined();
  });

  for (const spec of REFERENCE_SPECS) {
    test(`/api/${spec.resource}: every operation, success and error responses`, async () => {
      const s = samples[spec.resource] as (typeof samples)[string];
      const base = `/api/${spec.resource}`;
      const check = async (method: string, url: string, init: Parameters<typeof t.request>[1] = {}) => {
        const res = await t.request(url, { method, ...init });
        await referenceData.expectConforms(method, url, res);
        return res.status;
      };
      expect(await check("GET", `${base}?limit=2`)).toBe(200);
      expect(await check("GET", `${base}?limit=0`)).toBe(400);
      expect(await check("GET", base, { token: null })).toBe(401);
      expect(await check("GET", base, { roles: [] })).toBe(403);
      expect(await check("POST", base, { json: s.input })).toBe(201);
      expect(await check("POST", base, { json: s.input })).toBe(409);
      expect(await check("POST", base, { json: { nope: 1 } })).toBe(400);
      expect(await check("GET", `${base}/${s.key}`)).toBe(200);
      expect(await check("GET", `${base}/${spec.resource === "rules" ? "no-such-rule" : "99999"}`)).toBe(404);
      expect(await check("PATCH", `${base}/${s.key}`, { json: s.patch })).toBe(428);
      expect(
        await check("PATCH", `${base}/${s.key}`, { json: s.patch, headers: { "if-match": '"0-0"' } }),
      ).toBe(412);
      expect(await check("PATCH", `${base}/${s.key}`, { json: s.patch, headers: { "if-match": "*" } })).toBe(
        200,
      );
      expect(await check("GET", `${base}/export`)).toBe(200);
      const csv = { "content-type": "text/csv" };
      expect(await check("POST", `${base}/import`, { body: s.csv, headers: csv })).toBe(200);
      expect(await check("POST", `${base}/import`, { body: s.badCsv, headers: csv })).toBe(422);
      expect(
        await check("POST", `${base}/import`, {
          body: s.csv,
          headers: { "content-type": "application/json" },
        }),
      ).toBe(415);
      expect(await check("DELETE", `${base}/${s.key}`, { roles: ["editor"] })).toBe(403);
      expect(await check("DELETE", `${base}/${s.key}`)).toBe(204);
    });
  }

  test("/health and /ready", async () => {
    for (const path of ["/health", "/ready"]) {
      const res = await t.request(path, { token: null });
      await referenceData.expectConforms("GET", path, res);
    }
  });

  test("every operation of openapi/reference-data.json was checked", () => {
    expect(referenceData.operations.filter((id) => !referenceData.checked.has(id))).toEqual([]);
  });
});

describe("validation's contract (openapi/validation.json)", () => {
  test("files, validations (sync 200, archived) and results", async () => {
    const { csv } = await claimsFile(50);
    const form = new FormData();
    form.append("file", new File([csv], "claims.csv", { type: "text/csv" }));
    const uploaded = await t.request("/api/files", { method: "POST", body: form });
    const file = (await validation.expectConforms("POST", "/api/files", uploaded)) as { fileId: string };
    const wrongType = await t.request("/api/files", {
      method: "POST",
      body: "{}",
      headers: { "content-type": "application/json" },
    });
    expect(wrongType.status).toBe(415);
    await validation.expectConforms("POST", "/api/files", wrongType);
    expect(
      (
        await validation.expectConforms(
          "POST",
          "/api/files",
          await t.request("/api/files", { method: "POST", body: form, roles: ["viewer"] }),
        )
      )?.status,
    ).toBe(403);

    // Legacy difference 1: 200 with the finished run, checked as getValidation's 200.
    const created = await t.request("/api/validations", { method: "POST", json: { fileId: file.fileId } });
    expect(created.status).toBe(200);
    const run = (await validation.expectConforms("POST", "/api/validations", created, {
      as: { operationId: "getValidation", status: "200" },
    })) as { validationId: string };
    const missing = await t.request("/api/validations", {
      method: "POST",
      json: { fileId: crypto.randomUUID() },
    });
    expect(missing.status).toBe(404);
    await validation.expectConforms("POST", "/api/validations", missing);

    const get = async (url: string, status: number, init: Parameters<typeof t.request>[1] = {}) => {
      const res = await t.request(url, init);
      expect(res.status).toBe(status);
      return validation.expectConforms("GET", url, res);
    };
    const page = (await get("/api/validations?limit=100", 200)) as { items: { validationId: string }[] };
    expect(page.items.length).toBeGreaterThan(50);
    await get("/api/validations?limit=5000", 400);
    await get("/api/validations", 401, { token: null });
    await get(`/api/validations/${run.validationId}`, 200);
    const archived = page.items.at(-1)?.validationId as string;
    await get(`/api/validations/${archived}`, 200);
    await get(`/api/validations/${crypto.randomUUID()}`, 404);
    await get("/api/validations/not-a-uuid", 400);
    await get(`/api/validations/${run.validationId}/results?limit=10`, 200);
    await get(`/api/validations/${archived}/results`, 200);
    await get(`/api/validations/${run.validationId}/results`, 404, { tenant: "someone-else" });
    await get(`/api/validations/${run.validationId}/results.csv?severity=error`, 200);
    await get(`/api/validations/${run.validationId}/events`, 200);
    await get(`/api/validations/${run.validationId}/events`, 403, { roles: [] });
  });

  test("every operation of openapi/validation.json was checked", () => {
    const shared = validation.operations.filter((id) => id !== "getHealth" && id !== "getReady");
    expect(shared.filter((id) => !validation.checked.has(id))).toEqual([]);
  });
});
