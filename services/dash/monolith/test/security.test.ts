import { beforeAll, describe, expect, test } from "bun:test";
import { REFERENCE_SPECS } from "@dash/reference";
import { ROLES, type Role, roleAtLeast } from "@fig/auth";
import type { InvalidTokenKind } from "@fig/testing";
import { claimsFile, type Json, useMonolithApp } from "./helpers.ts";

// Every route × (no token, each bad token, each role, another tenant). A refused write changes nothing.
const t = useMonolithApp();

let serial = 0;
const keyFor: Record<string, () => string> = {
  codes: () => String(60000 + ++serial),
  contexts: () => `SEC-${++serial}`,
  establishments: () => String(61000 + ++serial),
  rules: () => `sec-${++serial}`,
};
const inputFor: Record<string, (key: string) => Json> = {
  codes: (code) => ({
    code,
    description: "Sécurité",
    category: "visite",
    tariff_cents: 100,
    unit: "acte",
    place_of_service: "both",
    requires_context: false,
    max_per_day: null,
    effective_from: "2020-01-01",
    effective_to: null,
    active: true,
  }),
  contexts: (code) => ({ code, description: "Sécurité", active: true }),
  establishments: (number) => ({ number, name: "Sécurité", type: "CLSC", region: "06", active: true }),
  rules: (id) => ({ id, name: "Sécurité", category: "code", severity: "info", enabled: true, params: {} }),
};
const csvOf = (resource: string, row: Json) => {
  const spec = REFERENCE_SPECS.find((s) => s.resource === resource);
  const cols = spec?.columns ?? [];
  const cell = (v: unknown) =>
    v === null ? "" : typeof v === "object" ? `"${JSON.stringify(v).replace(/"/g, '""')}"` : String(v);
  return `${cols.map((c) => c.name).join(",")}\n${cols.map((c) => cell(row[c.name])).join(",")}\n`;
};

type Call = { path: string; init: RequestInit & { json?: unknown } };
type Route = {
  name: string;
  minRole: Role;
  success: number;
  /** Tenant-owned: another tenant's token gets this instead of `success`. */
  otherTenant?: number;
  call(): Promise<Call & { verify?: (applied: boolean) => Promise<void> }>;
};

const routes: Route[] = [];
for (const spec of REFERENCE_SPECS) {
  const r = spec.resource;
  const created = async () => {
    const key = keyFor[r]?.() as string;
    expect((await t.request(`/api/${r}`, { method: "POST", json: inputFor[r]?.(key) })).status).toBe(201);
    return key;
  };
  const exists = async (key: string) => (await t.request(`/api/${r}/${key}`)).status === 200;
  routes.push(
    {
      name: `GET /api/${r}`,
      minRole: "viewer",
      success: 200,
      call: async () => ({ path: `/api/${r}`, init: {} }),
    },
    {
      name: `GET /api/${r}/{key}`,
      minRole: "viewer",
      success: 200,
      call: async () => ({ path: `/api/${r}/${await created()}`, init: {} }),
    },
    {
      name: `GET /api/${r}/export`,
      minRole: "viewer",
      success: 200,
      call: async () => ({ path: `/api/${r}/export`, init: {} }),
    },
    {
      name: `POST /api/${r}`,
      minRole: "editor",
      success: 201,
      call: async () => {
        const key = keyFor[r]?.() as string;
        return {
          path: `/api/${r}`,
          init: { method: "POST", json: inputFor[r]?.(key) },
          verify: async (applied) => expect(await exists(key)).toBe(applied),
        };
      },
    },
    {
      name: `POST /api/${r}/import`,
      minRole: "editor",
      success: 200,
      call: async () => {
        const key = keyFor[r]?.() as string;
        return {
          path: `/api/${r}/import`,
          init: {
            method: "POST",
            body: csvOf(r, inputFor[r]?.(key) as Json),
            headers: { "content-type": "text/csv" },
          },
          verify: async (applied) => expect(await exists(key)).toBe(applied),
        };
      },
    },
    {
      name: `PATCH /api/${r}/{key}`,
      minRole: "editor",
      success: 200,
      call: async () => {
        const key = await created();
        const before = (await (await t.request(`/api/${r}/${key}`)).json()) as Json;
        return {
          path: `/api/${r}/${key}`,
          init: {
            method: "PATCH",
            json: r === "rules" ? { enabled: false } : { active: false },
            headers: { "if-match": "*" },
          },
          verify: async (applied) => {
            const after = (await (await t.request(`/api/${r}/${key}`)).json()) as Json;
            expect(after.version).toBe(applied ? (before.version as number) + 1 : before.version);
          },
        };
      },
    },
    {
      name: `DELETE /api/${r}/{key}`,
      minRole: "admin",
      success: 204,
      call: async () => {
        const key = await created();
        return {
          path: `/api/${r}/${key}`,
          init: { method: "DELETE" },
          verify: async (applied) => expect(await exists(key)).toBe(!applied),
        };
      },
    },
  );
}

let fileId: string;
let runId: string;
let csv: string;
routes.push(
  {
    name: "POST /api/files",
    minRole: "editor",
    success: 201,
    call: async () => {
      const form = new FormData();
      form.append("file", new File([csv], "claims.csv", { type: "text/csv" }));
      return { path: "/api/files", init: { method: "POST", body: form } };
    },
  },
  {
    name: "POST /api/validations",
    minRole: "editor",
    success: 200,
    otherTenant: 404,
    call: async () => {
      const runsBefore = await runCount();
      return {
        path: "/api/validations",
        init: { method: "POST", json: { fileId } },
        verify: async (applied) => expect(await runCount()).toBe(runsBefore + (applied ? 1 : 0)),
      };
    },
  },
  {
    name: "GET /api/validations",
    minRole: "viewer",
    success: 200,
    call: async () => ({ path: "/api/validations", init: {} }),
  },
  ...["", "/results", "/results.csv", "/events"].map(
    (suffix): Route => ({
      name: `GET /api/validations/{id}${suffix}`,
      minRole: "viewer",
      success: 200,
      otherTenant: 404,
      call: async () => ({ path: `/api/validations/${runId}${suffix}`, init: {} }),
    }),
  ),
);

async function runCount() {
  const page = (await (await t.request("/api/validations?limit=1000")).json()) as { items: unknown[] };
  return page.items.length;
}

let invalid: Record<InvalidTokenKind, string>;
beforeAll(async () => {
  invalid = await t.auth.invalidTokens();
  csv = (await claimsFile(10)).csv;
  fileId = await t.upload(csv);
  const res = await t.request("/api/validations", { method: "POST", json: { fileId } });
  runId = ((await res.json()) as { validationId: string }).validationId;
});

async function send(call: Call, token: string | null, tenant?: string) {
  const { json, ...init } = call.init;
  return t.request(call.path, {
    ...init,
    token,
    ...(json === undefined ? {} : { json }),
    ...(tenant ? { tenant } : {}),
  });
}

for (const route of routes) {
  describe(route.name, () => {
    test("no token → 401 with a Bearer challenge; nothing changes", async () => {
      const call = await route.call();
      const res = await send(call, null);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
      await call.verify?.(false);
    });
    test("every bad token → 401; nothing changes", async () => {
      for (const [kind, token] of Object.entries(invalid)) {
        const call = await route.call();
        const res = await send(call, token);
        expect(res.status, kind).toBe(401);
        await call.verify?.(false);
      }
    });
    for (const role of ROLES) {
      const allowed = roleAtLeast([role], route.minRole);
      test(`${role} → ${allowed ? route.success : 403}`, async () => {
        const call = await route.call();
        const res = await send(call, await t.auth.token({ tenant: "acme", roles: [role] }));
        expect(res.status).toBe(allowed ? route.success : 403);
        await call.verify?.(allowed);
      });
    }
    if (route.otherTenant)
      test(`another tenant's admin → ${route.otherTenant}; nothing changes`, async () => {
        const call = await route.call();
        const res = await send(call, await t.auth.token({ tenant: "intruder", roles: ["admin"] }));
        expect(res.status).toBe(route.otherTenant as number);
        await call.verify?.(false);
      });
  });
}
