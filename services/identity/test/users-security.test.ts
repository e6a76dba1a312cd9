import { describe, expect, test } from "bun:test";
import type { Role } from "@fig/auth";
import { sql } from "drizzle-orm";
import { decodeJwt } from "jose";
import { countOf, expectProblem, loginAs, useIdentityApp } from "./helpers.ts";

// The users API belongs to a tenant's admins, inside their tenant. Every route × every kind of caller; each
// refusal is problem+json and leaves the users table as it was.

const t = useIdentityApp();

type Caller = { name: string; token: () => Promise<string | null>; status: number };

async function callers(): Promise<Caller[]> {
  const invalid = await t.auth.invalidTokens();
  const dev = (tenant: string, roles: Role[]) => () => t.devToken(tenant, roles);
  return [
    { name: "no token", token: async () => null, status: 401 },
    { name: "bad token (foreign key)", token: async () => invalid.foreignKey, status: 401 },
    { name: "expired token", token: async () => invalid.expired, status: 401 },
    { name: "alg none", token: async () => invalid.algNone, status: 401 },
    { name: "viewer of acme", token: dev("acme", ["viewer"]), status: 403 },
    { name: "editor of acme", token: dev("acme", ["editor"]), status: 403 },
    { name: "gate of acme", token: dev("acme", ["gate"]), status: 403 },
    { name: "admin of globex (another tenant)", token: dev("globex", ["admin"]), status: 404 },
  ];
}

describe("/api/users security table", () => {
  test("every route refuses every caller but an admin of the user's tenant, and changes nothing", async () => {
    const email = await t.user("acme", ["viewer"], "target");
    const { accessToken } = await loginAs(t, "acme", email);
    const id = decodeJwt(accessToken).sub as string;
    const routes = [
      { method: "GET", path: "/api/users", body: undefined, tenantScoped: false },
      {
        method: "POST",
        path: "/api/users",
        body: { email: "new@acme.test", roles: ["viewer"] },
        tenantScoped: false,
      },
      { method: "GET", path: `/api/users/${id}`, body: undefined, tenantScoped: true },
      {
        method: "PATCH",
        path: `/api/users/${id}`,
        body: { roles: ["admin"], disabled: true },
        tenantScoped: true,
      },
    ];
    const snapshot = () => countOf(t, sql`select count(*) as n from users`);
    const state = () =>
      countOf(
        t,
        sql`select count(*) as n from users where id = ${id} and status = 'active' and roles = '{viewer}'`,
      );
    const before = await snapshot();
    for (const caller of await callers())
      for (const route of routes) {
        const bearer = (await caller.token()) ?? undefined;
        const res = await t.request(route.path, {
          method: route.method,
          ...(route.body ? { json: route.body } : {}),
          ...(bearer ? { bearer } : {}),
        });
        const label = `${caller.name} ${route.method} ${route.path}`;
        // Another tenant's admin may list and invite in its own tenant; only the acme user is invisible to it.
        if (caller.status === 404 && !route.tenantScoped) {
          expect({ label, status: res.status }).toEqual({
            label,
            status: route.method === "POST" ? 201 : 200,
          });
          if (route.method === "GET") {
            const page = (await res.json()) as { items: { email: string }[] };
            expect(page.items.map((u) => u.email)).not.toContain(email);
          }
          continue;
        }
        expect({ label, status: res.status }).toEqual({ label, status: caller.status });
        await expectProblem(res, caller.status);
        expect(await state()).toBe(1);
      }
    // globex's admin invited one user into globex; acme is unchanged.
    expect(await snapshot()).toBe(before + 1);
    expect(await countOf(t, sql`select count(*) as n from users where tenant_id = 'globex'`)).toBe(1);
  });

  test("an admin of the tenant lists, reads, invites and changes roles", async () => {
    const email = await t.user("acme", ["viewer"], "managed");
    const id = decodeJwt((await loginAs(t, "acme", email)).accessToken).sub as string;
    const admin = await t.devToken("acme", ["admin"]);
    const list = (await (await t.request("/api/users?limit=200", { bearer: admin })).json()) as {
      items: { email: string }[];
    };
    expect(list.items.map((u) => u.email)).toContain(email);
    expect((await t.request(`/api/users/${id}`, { bearer: admin })).status).toBe(200);
    const changed = await t.request(`/api/users/${id}`, {
      method: "PATCH",
      json: { roles: ["editor", "gate"] },
      bearer: admin,
    });
    expect(changed.status).toBe(200);
    expect(((await changed.json()) as { roles: string[] }).roles).toEqual(["editor", "gate"]);
    // The next login carries the new roles.
    expect(decodeJwt((await loginAs(t, "acme", email)).accessToken).roles).toEqual(["editor", "gate"]);
    const dup = await t.request("/api/users", { json: { email, roles: ["viewer"] }, bearer: admin });
    await expectProblem(dup, 409);
    const bad = await t.request("/api/users", {
      json: { email: "x@acme.test", roles: ["root"] },
      bearer: admin,
    });
    await expectProblem(bad, 400);
  });

  test("an identity-issued admin token manages its tenant's users", async () => {
    const adminEmail = await t.user("initech", ["admin"], "boss");
    const { accessToken } = await loginAs(t, "initech", adminEmail);
    const res = await t.request("/api/users", { bearer: accessToken });
    expect(res.status).toBe(200);
    const page = (await res.json()) as { items: { email: string }[] };
    expect(page.items.map((u) => u.email)).toEqual([adminEmail]);
  });
});
