import { describe, expect, test } from "bun:test";
import { rowsOf, withTenant } from "@fig/db";
import { eq, sql } from "drizzle-orm";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { usersTable } from "../src/db/schema.ts";
import { checkPassword } from "../src/domain/passwords.ts";
import { DEV_PASSWORD, DEV_ROLES, seedDevelopment } from "../src/domain/seed.ts";
import { countOf, expectProblem, loginAs, PASSWORD, THROTTLE, useIdentityApp } from "./helpers.ts";

const t = useIdentityApp();

describe("login", () => {
  test("tenant, email and password give an EdDSA access token (≤ 15 min, kid in the JWKS) and a refresh token", async () => {
    const email = await t.user("acme", ["editor"]);
    const pair = await loginAs(t, "acme", email.toUpperCase());
    expect(pair.tokenType).toBe("Bearer");
    expect(pair.expiresIn).toBeLessThanOrEqual(900);
    expect(pair.refreshToken).toStartWith("rt_");
    const header = decodeProtectedHeader(pair.accessToken);
    expect(header.alg).toBe("EdDSA");
    const jwks = (await (await t.request("/.well-known/jwks.json")).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid as string);
    const claims = decodeJwt(pair.accessToken);
    expect(claims).toMatchObject({ tenant: "acme", roles: ["editor"], iss: "fig-test", aud: "fig" });
    expect((claims.exp as number) - (claims.iat as number)).toBeLessThanOrEqual(900);
    expect(await t.verifier.verifyBearerToken(pair.accessToken)).toMatchObject({
      tenant: "acme",
      roles: ["editor"],
    });
    // Only the refresh token's hash is stored.
    expect(
      await countOf(t, sql`select count(*) as n from refresh_tokens where token_hash = ${pair.refreshToken}`),
    ).toBe(0);
    expect(
      await countOf(t, sql`select count(*) as n from outbox where type = 'identity.login.succeeded'`),
    ).toBeGreaterThan(0);
  });

  test("a wrong password, an unknown email and another tenant's account are one 401", async () => {
    const email = await t.user("acme", ["viewer"]);
    const details = new Set<string>();
    for (const body of [
      { tenant: "acme", email, password: "wrong password!" },
      { tenant: "acme", email: "nobody@acme.test", password: PASSWORD },
      { tenant: "globex", email, password: PASSWORD },
    ]) {
      const res = await t.request("/api/auth/login", { json: body, ip: "10.0.1.1" });
      details.add((await expectProblem(res, 401)).detail);
    }
    expect([...details]).toEqual(["Email or password is wrong"]);
    expect(
      await countOf(t, sql`select count(*) as n from outbox where type = 'identity.login.failed'`),
    ).toBeGreaterThanOrEqual(3);
  });

  test("an account is locked after its failures: 429 with Retry-After, even with the right password", async () => {
    const email = await t.user("acme", ["viewer"]);
    for (let i = 0; i < THROTTLE.accountMaxFailures; i++) {
      const res = await t.request("/api/auth/login", {
        json: { tenant: "acme", email, password: "wrong" },
        ip: `10.1.0.${i}`,
      });
      await expectProblem(res, 401);
    }
    const locked = await t.request("/api/auth/login", {
      json: { tenant: "acme", email, password: PASSWORD },
      ip: "10.1.1.1",
    });
    const problem = await expectProblem(locked, 429);
    expect(problem.detail).toContain("Too many failed logins");
    const retryAfter = Number(locked.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(THROTTLE.lockoutSeconds);
    // Another account is not affected.
    await loginAs(t, "acme", await t.user("acme", ["viewer"]), "10.1.1.2");
  });

  test("an address is locked after failures across accounts", async () => {
    const ip = "10.2.0.1";
    for (let i = 0; i < THROTTLE.ipMaxFailures; i++) {
      const res = await t.request("/api/auth/login", {
        json: { tenant: "acme", email: `ghost-${i}@acme.test`, password: "wrong" },
        ip,
      });
      await expectProblem(res, 401);
    }
    const email = await t.user("acme", ["viewer"]);
    await expectProblem(
      await t.request("/api/auth/login", { json: { tenant: "acme", email, password: PASSWORD }, ip }),
      429,
    );
    await loginAs(t, "acme", email, "10.2.0.2");
  });

  test("a bcrypt hash (an imported user) verifies and is replaced by argon2id at that login", async () => {
    const email = `imported-${crypto.randomUUID().slice(0, 8)}@acme.test`;
    const bcrypt = await Bun.password.hash(PASSWORD, { algorithm: "bcrypt", cost: 4 });
    expect(await checkPassword(PASSWORD, bcrypt)).toEqual({ ok: true, rehash: true });
    await withTenant(t.tdb.db, "acme", (tx) =>
      tx.insert(usersTable).values({
        id: crypto.randomUUID(),
        tenant_id: "acme",
        email,
        password_hash: bcrypt,
        roles: ["viewer"],
        status: "active",
        created_by: "import",
      }),
    );
    await loginAs(t, "acme", email);
    const [row] = await withTenant(t.tdb.db, "acme", (tx) =>
      tx
        .select({ password_hash: usersTable.password_hash })
        .from(usersTable)
        .where(eq(usersTable.email, email)),
    );
    expect(row?.password_hash).toStartWith("$argon2id$v=19$m=19456,t=2,p=1$");
    expect((await checkPassword(PASSWORD, row?.password_hash as string)).rehash).toBe(false);
  });
});

describe("refresh and logout", () => {
  test("refresh rotates; presenting a used refresh token revokes the whole family", async () => {
    const email = await t.user("acme", ["viewer"]);
    const first = await loginAs(t, "acme", email);
    const second = (await (
      await t.request("/api/auth/refresh", { json: { refreshToken: first.refreshToken } })
    ).json()) as typeof first;
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(decodeJwt(second.accessToken).sub).toBe(decodeJwt(first.accessToken).sub);
    const third = await t.request("/api/auth/refresh", { json: { refreshToken: second.refreshToken } });
    expect(third.status).toBe(200);
    const latest = ((await third.json()) as typeof first).refreshToken;
    // The first token again: reuse. The family (and so the latest token) is revoked.
    const reuse = await t.request("/api/auth/refresh", { json: { refreshToken: first.refreshToken } });
    expect((await expectProblem(reuse, 401)).detail).toContain("already used");
    await expectProblem(await t.request("/api/auth/refresh", { json: { refreshToken: latest } }), 401);
    expect(
      await countOf(
        t,
        sql`select count(*) as n from outbox where type = 'identity.session.revoked' and data->>'reason' = 'reuse'`,
      ),
    ).toBeGreaterThan(0);
    // Another session of the same user is untouched.
    const other = await loginAs(t, "acme", email);
    expect(
      (await t.request("/api/auth/refresh", { json: { refreshToken: other.refreshToken } })).status,
    ).toBe(200);
  });

  test("logout revokes the session: its refresh token no longer works", async () => {
    const email = await t.user("acme", ["viewer"]);
    const pair = await loginAs(t, "acme", email);
    expect((await t.request("/api/auth/logout", { json: { refreshToken: pair.refreshToken } })).status).toBe(
      204,
    );
    await expectProblem(
      await t.request("/api/auth/refresh", { json: { refreshToken: pair.refreshToken } }),
      401,
    );
    expect((await t.request("/api/auth/logout", { json: { refreshToken: "rt_unknown" } })).status).toBe(204);
  });

  test("an unknown refresh token is 401", async () => {
    await expectProblem(await t.request("/api/auth/refresh", { json: { refreshToken: "rt_nope" } }), 401);
  });
});

describe("invitations", () => {
  test("an admin invites; the user sets a password with the one-time token and logs in; the token is then void", async () => {
    const admin = await t.devToken("acme", ["admin"]);
    const email = `invitee-${crypto.randomUUID().slice(0, 8)}@acme.test`;
    const res = await t.request("/api/users", { json: { email, roles: ["editor"] }, bearer: admin });
    expect(res.status).toBe(201);
    const { user, inviteToken } = (await res.json()) as {
      user: { id: string; status: string };
      inviteToken: string;
    };
    expect(user.status).toBe("invited");
    // Not yet: no password.
    await expectProblem(
      await t.request("/api/auth/login", {
        json: { tenant: "acme", email, password: PASSWORD },
        ip: "10.3.0.1",
      }),
      401,
    );
    const set = { tenant: "acme", token: inviteToken, password: PASSWORD };
    expect((await t.request("/api/auth/set-password", { json: set })).status).toBe(204);
    await expectProblem(await t.request("/api/auth/set-password", { json: set }), 400);
    const pair = await loginAs(t, "acme", email, "10.3.0.2");
    expect(decodeJwt(pair.accessToken)).toMatchObject({ sub: user.id, roles: ["editor"] });
  });

  test("disabling a user refuses its logins and revokes its sessions", async () => {
    const admin = await t.devToken("acme", ["admin"]);
    const email = await t.user("acme", ["viewer"]);
    const pair = await loginAs(t, "acme", email);
    const id = decodeJwt(pair.accessToken).sub as string;
    const res = await t.request(`/api/users/${id}`, {
      method: "PATCH",
      json: { disabled: true },
      bearer: admin,
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("disabled");
    await expectProblem(
      await t.request("/api/auth/refresh", { json: { refreshToken: pair.refreshToken } }),
      401,
    );
    await expectProblem(
      await t.request("/api/auth/login", {
        json: { tenant: "acme", email, password: PASSWORD },
        ip: "10.4.0.1",
      }),
      401,
    );
  });
});

describe("the development seed", () => {
  test("every seeded user logs in with the dev password; one hash is shared, and a second seed writes nothing", async () => {
    const tenants = ["seed-a", "seed-b"];
    await seedDevelopment(t.tdb.db, tenants);
    const hashes = await t.tdb.db.execute(
      sql`select email, password_hash from users where tenant_id in ('seed-a', 'seed-b') order by email`,
    );
    const rows = rowsOf<{ email: string; password_hash: string }>(hashes);
    expect(rows.map((r) => r.email)).toEqual(
      tenants.flatMap((tenant) => DEV_ROLES.map((role) => `${role}@${tenant}.test`)).sort(),
    );
    expect(new Set(rows.map((r) => r.password_hash)).size).toBe(1);
    for (const tenant of tenants)
      for (const role of DEV_ROLES) {
        const res = await t.request("/api/auth/login", {
          json: { tenant, email: `${role}@${tenant}.test`, password: DEV_PASSWORD },
          ip: "10.9.0.1",
        });
        expect(res.status).toBe(200);
        expect(decodeJwt(((await res.json()) as { accessToken: string }).accessToken).roles).toEqual([role]);
      }
    await seedDevelopment(t.tdb.db, tenants);
    const again = rowsOf<{ email: string; password_hash: string }>(
      await t.tdb.db.execute(
        sql`select email, password_hash from users where tenant_id in ('seed-a', 'seed-b') order by email`,
      ),
    );
    expect(again).toEqual(rows);
  });
});
