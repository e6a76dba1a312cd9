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
  /** A change to a record made by `input()`: every value differs from the stored one. */
  patch: Json;
};

let serial = 0;
const next = () => ++serial;

const fixtures: Record<Resource, Fixture> = {
  codes: {
    freshKey: () => String(70000 + next()),
    input: (code) => codeInput(code),
    csv: (code) => `${CODE_HEADER}\n${codeLine(code)}\n`,
    patch: { unit: "séance", tariff_cents: 4321 },
  },
  contexts: {
    freshKey: () => `S-${next()}`,
    input: (code) => ({ code, description: "Contexte de sécurité", active: true }),
    csv: (code) => `code,description,active\n${code},Contexte importé,true\n`,
    patch: { description: "Contexte modifié", active: false },
  },
  establishments: {
    freshKey: () => String(80000 + next()),
    input: (number) => ({ number, name: "Établissement", type: "CLSC", region: "06", active: true }),
    csv: (number) => `number,name,type,region,active\n${number},Importé,CH,06,true\n`,
    patch: { name: "Établissement modifié", active: false },
  },
  rules: {
    freshKey: () => `sec-${next()}`,
    input: (id) => ({ id, name: "Règle", category: "code", severity: "info", enabled: true, params: {} }),
    csv: (id) => `id,name,category,severity,enabled,params\n${id},Importée,code,info,true,{}\n`,
    patch: { name: "Règle modifiée", enabled: false },
  },
};

type Call = { method: string; path: string; json?: Json; body?: string; headers?: Record<string, string> };

type Route = {
  name: "list" | "get" | "export" | "create" | "import" | "patch" | "delete";
  minRole: Role;
  success: number;
  /**
   * Builds the request; `existing` is a key that exists for the whole file. `before` is the target as stored
   * before the request, when the request would change it: a refused request must leave it exactly so.
   */
  call(resource: Resource, existing: string): Promise<{ request: Call; target: string; before?: Json }>;
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
    untouched: 200,
    // A record of its own each time, as input() made it: the patch changes every field it sends, so a refused
    // PATCH that was applied anyway shows (an allowed one is checked to apply, below).
    call: async (r) => {
      const key = fixtures[r].freshKey();
      const created = await t.request("POST", `/api/${r}`, { as: "admin", json: fixtures[r].input(key) });
      expect(created.status).toBe(201);
      const before = await readBack(r, key);
      for (const [field, value] of Object.entries(fixtures[r].patch))
        expect(before[field]).not.toEqual(value);
      const request = {
        method: "PATCH",
        path: `/api/${r}/${key}`,
        json: fixtures[r].patch,
        headers: { "if-match": "*" },
      };
      return { request, target: key, before };
    },
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
      return {
        request: { method: "DELETE", path: `/api/${r}/${key}` },
        target: key,
        before: await readBack(r, key),
      };
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

/** The record as GET returns it (as admin). */
async function readBack(r: Resource, key: string): Promise<Json> {
  const res = await t.request("GET", `/api/${r}/${key}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

/** Sends the route's request with the given Authorization header (none when undefined). */
async function send(r: Resource, route: Route, authorization: string | undefined, requestId: string) {
  const { request, target, before } = await route.call(r, existing[r]);
  const headers: Record<string, string> = { ...request.headers, "x-request-id": requestId };
  if (authorization !== undefined) headers.authorization = authorization;
  const res = await t.request(request.method, request.path, {
    as: null,
    headers,
    ...(request.json === undefined ? {} : { json: request.json }),
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  return { res, target, before };
}

/** A refused request must change nothing: the target reads back with `untouched`, field for field as before. */
async function expectUntouched(r: Resource, route: Route, target: string, before: Json | undefined) {
  const res = await t.request("GET", `/api/${r}/${target}`);
  if (route.untouched !== undefined) expect(res.status).toBe(route.untouched);
  if (before !== undefined) expect(await res.json()).toEqual(before);
}

for (const r of resources) {
  describe(`/api/${r}`, () => {
    for (const route of routes) {
      describe(route.name, () => {
        test("no token → 401 with a Bearer challenge", async () => {
          const { res, target, before } = await send(r, route, undefined, `req-${r}-${route.name}-none`);
          await expectProblem(res, 401, `req-${r}-${route.name}-none`);
          expect(res.headers.get("www-authenticate")).toBe('Bearer realm="fig"');
          await expectUntouched(r, route, target, before);
        });

        test("a non-Bearer scheme → 401", async () => {
          const { res, target, before } = await send(r, route, "Basic dXNlcjpwYXNz", "req-basic");
          await expectProblem(res, 401, "req-basic");
          expect(res.headers.get("www-authenticate")).toStartWith("Bearer");
          await expectUntouched(r, route, target, before);
        });

        for (const kind of ["expired", "foreignKey", "algNone", "wrongAudience", "wrongIssuer"] as const) {
          test(`${kind} token → 401 invalid_token`, async () => {
            const { res, target, before } = await send(r, route, `Bearer ${invalid[kind]}`, `req-${kind}`);
            await expectProblem(res, 401, `req-${kind}`);
            expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
            await expectUntouched(r, route, target, before);
          });
        }

        test("a token with no role → 403", async () => {
          const token = await t.auth.token({ roles: [] });
          const { res, target, before } = await send(r, route, `Bearer ${token}`, "req-norole");
          await expectProblem(res, 403, "req-norole");
          expect(res.headers.get("www-authenticate")).toContain('error="insufficient_scope"');
          await expectUntouched(r, route, target, before);
        });

        for (const role of ROLES) {
          const allowed = roleAtLeast([role], route.minRole);
          test(`${role} → ${allowed ? route.success : 403}`, async () => {
            const token = await t.auth.token({ roles: [role] });
            const { res, target, before } = await send(r, route, `Bearer ${token}`, `req-${role}`);
            if (!allowed) {
              const problem = await expectProblem(res, 403, `req-${role}`);
              expect(problem.detail).toContain(route.minRole);
              await expectUntouched(r, route, target, before);
              return;
            }
            expect(res.status).toBe(route.success);
            await res.arrayBuffer();
            // The same request, allowed, does change the target: so the refusals above were seen to matter.
            if (route.name === "patch") expect(await readBack(r, target)).toMatchObject(fixtures[r].patch);
            if (route.name === "delete")
              expect((await t.request("GET", `/api/${r}/${target}`)).status).toBe(404);
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
