import { beforeAll, describe, expect, test } from "bun:test";
import { ROLES, type Role, roleAtLeast } from "@fig/auth";
import type { InvalidTokenKind } from "@fig/testing";
import {
  CODE_HEADER,
  codeInput,
  codeLine,
  expectProblem,
  type Json,
  type Resource,
  useReferenceApp,
} from "./helpers.ts";

const t = useReferenceApp();

type Fixture = {
  /** A key no other call uses, in the resource's key format. */
  freshKey(): string;
  input(key: string): Json;
  csv(key: string): string;
  patch: Json;
};

let serial = 0;
const next = () => ++serial;

const fixtures: Record<Resource, Fixture> = {
  codes: {
    freshKey: () => String(70000 + next()),
    input: (code) => codeInput(code),
    csv: (code) => `${CODE_HEADER}\n${codeLine(code)}\n`,
    patch: { unit: "acte" },
  },
  contexts: {
    freshKey: () => `S-${next()}`,
    input: (code) => ({ code, description: "Contexte de sécurité", active: true }),
    csv: (code) => `code,description,active\n${code},Contexte importé,true\n`,
    patch: { active: true },
  },
  establishments: {
    freshKey: () => String(80000 + next()),
    input: (number) => ({ number, name: "Établissement", type: "CLSC", region: "06", active: true }),
    csv: (number) => `number,name,type,region,active\n${number},Importé,CH,06,true\n`,
    patch: { active: true },
  },
  rules: {
    freshKey: () => `sec-${next()}`,
    input: (id) => ({ id, name: "Règle", category: "code", severity: "info", enabled: true, params: {} }),
    csv: (id) => `id,name,category,severity,enabled,params\n${id},Importée,code,info,true,{}\n`,
    patch: { enabled: true },
  },
};

type Call = { method: string; path: string; json?: Json; body?: string; headers?: Record<string, string> };

type Route = {
  name: "list" | "get" | "export" | "create" | "import" | "patch" | "delete";
  minRole: Role;
  success: number;
  /** Builds the request; `existing` is a key that exists for the whole file. */
  call(resource: Resource, existing: string): Promise<{ request: Call; target: string }>;
  /** After a refused write, the target must read back with this status. */
  untouched?: number;
};

const routes: Route[] = [
  {
    name: "list",
    minRole: "viewer",
    success: 200,
    call: async (r, existing) => ({ request: { method: "GET", path: `/api/${r}` }, target: existing }),
  },
  {
    name: "get",
    minRole: "viewer",
    success: 200,
    call: async (r, existing) => ({
      request: { method: "GET", path: `/api/${r}/${existing}` },
      target: existing,
    }),
  },
  {
    name: "export",
    minRole: "viewer",
    success: 200,
    call: async (r, existing) => ({ request: { method: "GET", path: `/api/${r}/export` }, target: existing }),
  },
  {
    name: "create",
    minRole: "editor",
    success: 201,
    untouched: 404,
    call: async (r) => {
      const key = fixtures[r].freshKey();
      return { request: { method: "POST", path: `/api/${r}`, json: fixtures[r].input(key) }, target: key };
    },
  },
  {
    name: "import",
    minRole: "editor",
    success: 200,
    untouched: 404,
    call: async (r) => {
      const key = fixtures[r].freshKey();
      const request = {
        method: "POST",
        path: `/api/${r}/import`,
        body: fixtures[r].csv(key),
        headers: { "content-type": "text/csv" },
      };
      return { request, target: key };
    },
  },
  {
    name: "patch",
    minRole: "editor",
    success: 200,
    call: async (r, existing) => ({
      request: {
        method: "PATCH",
        path: `/api/${r}/${existing}`,
        json: fixtures[r].patch,
        headers: { "if-match": "*" },
      },
      target: existing,
    }),
  },
  {
    name: "delete",
    minRole: "admin",
    success: 204,
    untouched: 200,
    call: async (r) => {
      const key = fixtures[r].freshKey();
      const created = await t.request("POST", `/api/${r}`, { as: "admin", json: fixtures[r].input(key) });
      expect(created.status).toBe(201);
      return { request: { method: "DELETE", path: `/api/${r}/${key}` }, target: key };
    },
  },
];

const resources: Resource[] = ["codes", "contexts", "establishments", "rules"];
const existing = {} as Record<Resource, string>;
let invalid: Record<InvalidTokenKind, string>;

beforeAll(async () => {
  invalid = await t.auth.invalidTokens();
  for (const r of resources) {
    existing[r] = fixtures[r].freshKey();
    const res = await t.request("POST", `/api/${r}`, { as: "admin", json: fixtures[r].input(existing[r]) });
    expect(res.status).toBe(201);
  }
});

/** Sends the route's request with the given Authorization header (none when undefined). */
async function send(r: Resource, route: Route, authorization: string | undefined, requestId: string) {
  const { request, target } = await route.call(r, existing[r]);
  const headers: Record<string, string> = { ...request.headers, "x-request-id": requestId };
  if (authorization !== undefined) headers.authorization = authorization;
  const res = await t.request(request.method, request.path, {
    as: null,
    headers,
    ...(request.json === undefined ? {} : { json: request.json }),
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  return { res, target };
}

/** A refused request must change nothing. */
async function expectUntouched(r: Resource, route: Route, target: string) {
  const res = await t.request("GET", `/api/${r}/${target}`);
  if (route.untouched !== undefined) expect(res.status).toBe(route.untouched);
  if (route.name === "patch") expect(res.status).toBe(200);
}

for (const r of resources) {
  describe(`/api/${r}`, () => {
    for (const route of routes) {
      describe(route.name, () => {
        test("no token → 401 with a Bearer challenge", async () => {
          const { res, target } = await send(r, route, undefined, `req-${r}-${route.name}-none`);
          await expectProblem(res, 401, `req-${r}-${route.name}-none`);
          expect(res.headers.get("www-authenticate")).toBe('Bearer realm="fig"');
          await expectUntouched(r, route, target);
        });

        test("a non-Bearer scheme → 401", async () => {
          const { res } = await send(r, route, "Basic dXNlcjpwYXNz", "req-basic");
          await expectProblem(res, 401, "req-basic");
          expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
        });

        for (const kind of ["expired", "foreignKey", "algNone", "wrongAudience", "wrongIssuer"] as const) {
          test(`${kind} token → 401 invalid_token`, async () => {
            const { res, target } = await send(r, route, `Bearer ${invalid[kind]}`, `req-${kind}`);
            await expectProblem(res, 401, `req-${kind}`);
            expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
            await expectUntouched(r, route, target);
          });
        }

        test("a token with no role → 403", async () => {
          const token = await t.auth.token({ roles: [] });
          const { res, target } = await send(r, route, `Bearer ${token}`, "req-norole");
          await expectProblem(res, 403, "req-norole");
          expect(res.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
          await expectUntouched(r, route, target);
        });

        for (const role of ROLES) {
          const allowed = roleAtLeast([role], route.minRole);
          test(`${role} → ${allowed ? route.success : 403}`, async () => {
            const token = await t.auth.token({ roles: [role] });
            const { res, target } = await send(r, route, `Bearer ${token}`, `req-${role}`);
            if (!allowed) {
              const problem = await expectProblem(res, 403, `req-${role}`);
              expect(problem.detail).toContain(route.minRole);
              await expectUntouched(r, route, target);
              return;
            }
            expect(res.status).toBe(route.success);
            await res.arrayBuffer();
          });
        }
      });
    }
  });
}

describe("patch refused", () => {
  test("a viewer's PATCH leaves the version as it was", async () => {
    const before = (await (await t.request("GET", `/api/codes/${existing.codes}`)).json()) as Json;
    const viewer = await t.auth.token({ roles: ["viewer"] });
    const res = await t.request("PATCH", `/api/codes/${existing.codes}`, {
      token: viewer,
      json: { unit: "autre" },
      headers: { "if-match": "*" },
    });
    await expectProblem(res, 403);
    const after = (await (await t.request("GET", `/api/codes/${existing.codes}`)).json()) as Json;
    expect(after).toEqual(before);
  });
});
