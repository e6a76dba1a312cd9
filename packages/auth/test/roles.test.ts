import { expect, test } from "bun:test";
import { AppError, problemResponse } from "@fig/service";
import { Hono } from "hono";
import { requireAuth, requireRole } from "../src/middleware.ts";
import { mintDevToken } from "../src/mint.ts";
import { hasAnyRole, isOperator, isRole, ROLES, type Role, roleAtLeast } from "../src/roles.ts";
import { createTokenVerifier } from "../src/verify.ts";
import { AUDIENCE, ISSUER, SECRET } from "./fixtures.ts";

test("gate is a role, outside the viewer < editor < admin order", () => {
  expect(ROLES).toContain("gate");
  expect(isRole("gate")).toBe(true);
  // It reads...
  expect(roleAtLeast(["gate"], "viewer")).toBe(true);
  // ...and nothing else of the ordered roles.
  expect(roleAtLeast(["gate"], "editor")).toBe(false);
  expect(roleAtLeast(["gate"], "admin")).toBe(false);
  // No ordered role implies it, admin included.
  for (const role of ["viewer", "editor", "admin"] as Role[]) expect(roleAtLeast([role], "gate")).toBe(false);
  expect(roleAtLeast(["gate"], "gate")).toBe(true);
  expect(roleAtLeast(["viewer", "gate"], "gate")).toBe(true);
});

test("hasAnyRole matches exact roles, not ranks", () => {
  expect(hasAnyRole(["gate"], ["admin", "gate"])).toBe(true);
  expect(hasAnyRole(["admin"], ["admin", "gate"])).toBe(true);
  expect(hasAnyRole(["editor"], ["admin", "gate"])).toBe(false);
  expect(hasAnyRole([], ["admin", "gate"])).toBe(false);
});

test("a gate token passes requireRole('viewer') and is refused editor and admin routes", async () => {
  const verifier = createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, devSecret: SECRET });
  const app = new Hono();
  app.onError((err, c) => (err instanceof AppError ? problemResponse(c, err) : c.text("boom", 500)));
  app.use("/*", requireAuth(verifier));
  app.get("/read", requireRole("viewer"), (c) => c.json({ ok: true }));
  app.get("/edit", requireRole("editor"), (c) => c.json({ ok: true }));
  app.get("/admin", requireRole("admin"), (c) => c.json({ ok: true }));
  const token = await mintDevToken({
    secret: SECRET,
    issuer: ISSUER,
    audience: AUDIENCE,
    sub: "k6",
    tenant: "acme",
    roles: ["gate"],
  });
  const headers = { authorization: `Bearer ${token}` };
  expect((await app.request("/read", { headers })).status).toBe(200);
  expect((await app.request("/edit", { headers })).status).toBe(403);
  expect((await app.request("/admin", { headers })).status).toBe(403);
});

test("operator is a role outside the tenant order: it grants no tenant role and no tenant role implies it", () => {
  expect(isRole("operator")).toBe(true);
  for (const role of ["viewer", "editor", "admin", "gate"] as Role[]) {
    expect(roleAtLeast(["operator"], role)).toBe(false);
    expect(roleAtLeast([role], "operator")).toBe(false);
  }
  expect(roleAtLeast(["operator"], "operator")).toBe(true);
});

test("isOperator: role operator in the operator tenant, nothing else", () => {
  expect(isOperator({ tenant: "platform", roles: ["operator"] }, "platform")).toBe(true);
  expect(isOperator({ tenant: "platform", roles: ["viewer", "operator"] }, "platform")).toBe(true);
  // A tenant's admin, a platform admin, and an operator role minted in another tenant are not operators.
  expect(isOperator({ tenant: "acme", roles: ["admin"] }, "platform")).toBe(false);
  expect(isOperator({ tenant: "platform", roles: ["admin"] }, "platform")).toBe(false);
  expect(isOperator({ tenant: "evilcorp", roles: ["operator"] }, "platform")).toBe(false);
  expect(isOperator({ tenant: "ops", roles: ["operator"] }, "ops")).toBe(true);
  expect(isOperator(undefined, "platform")).toBe(false);
});
