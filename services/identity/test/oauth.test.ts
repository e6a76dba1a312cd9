import { describe, expect, test } from "bun:test";
import { createServiceTokenSource, requireAuth, requireRole, requireScope } from "@fig/auth";
import { createApp, createLogger } from "@fig/service";
import { decodeJwt } from "jose";
import { expectProblem, loginAs, useIdentityApp } from "./helpers.ts";

const t = useIdentityApp();

const form = (fields: Record<string, string>): RequestInit => ({
  method: "POST",
  body: new URLSearchParams(fields),
  headers: { "content-type": "application/x-www-form-urlencoded" },
});
const grant = {
  grant_type: "client_credentials",
  client_id: "validation",
  client_secret: "test-secret-validation",
};

describe("client-credentials grant", () => {
  test("a client's id and secret give a short-lived token with its scopes, tenant and roles", async () => {
    const res = await t.app.request("/oauth/token", form({ ...grant, scope: "reference:export" }));
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as {
      access_token: string;
      token_type: string;
      expires_in: number;
      scope: string;
    };
    expect(body).toMatchObject({ token_type: "Bearer", scope: "reference:export" });
    expect(body.expires_in).toBeLessThanOrEqual(900);
    expect(await t.verifier.verifyBearerToken(body.access_token)).toEqual({
      sub: "validation",
      tenant: "fig-system",
      roles: ["viewer"],
      scope: "reference:export",
    });
    // No scope asked: every scope the client holds.
    const all = (await (await t.app.request("/oauth/token", form(grant))).json()) as { scope: string };
    expect(all.scope).toBe("reference:export reference:read");
  });

  test("a wrong secret or unknown client is 401 invalid_client; an ungranted scope 400 invalid_scope", async () => {
    for (const fields of [
      { ...grant, client_secret: "wrong" },
      { ...grant, client_id: "nobody" },
    ]) {
      const res = await t.app.request("/oauth/token", form(fields));
      expect(((await expectProblem(res, 401)) as unknown as { error: string }).error).toBe("invalid_client");
    }
    const scoped = await t.app.request(
      "/oauth/token",
      form({ ...grant, scope: "reference:export users:admin" }),
    );
    expect(((await expectProblem(scoped, 400)) as unknown as { error: string }).error).toBe("invalid_scope");
    const password = await t.app.request("/oauth/token", form({ ...grant, grant_type: "password" }));
    await expectProblem(password, 400);
  });

  test("createServiceTokenSource fetches once per lifetime, through a real socket", async () => {
    let requests = 0;
    const server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: (req) => {
        requests++;
        return t.app.fetch(req);
      },
    });
    try {
      const token = createServiceTokenSource({
        tokenUrl: `http://127.0.0.1:${server.port}/oauth/token`,
        clientId: "validation",
        clientSecret: "test-secret-validation",
        scope: "reference:read",
      });
      const [a, b] = await Promise.all([token(), token()]);
      expect(a).toBe(b as string);
      expect(await token()).toBe(a);
      expect(requests).toBe(1);
      expect(decodeJwt(a).scope).toBe("reference:read");
      const refused = createServiceTokenSource({
        tokenUrl: `http://127.0.0.1:${server.port}/oauth/token`,
        clientId: "validation",
        clientSecret: "nope",
      });
      await expect(refused()).rejects.toThrow("HTTP 401");
    } finally {
      server.stop(true);
    }
  });

  test("a route meant for services checks the scope of service tokens; user tokens by role", async () => {
    const app = createApp({
      name: "scoped",
      version: "0",
      logger: createLogger({ service: "scoped", level: "silent" }),
    });
    app.use("/export", requireAuth(t.verifier), requireRole("viewer"), requireScope("reference:export"));
    app.get("/export", (c) => c.text("rows"));
    const tokenWith = async (scope: string) =>
      (
        (await (await t.app.request("/oauth/token", form({ ...grant, scope }))).json()) as {
          access_token: string;
        }
      ).access_token;
    const call = async (token: string) =>
      app.request("/export", { headers: { authorization: `Bearer ${token}` } });
    expect((await call(await tokenWith("reference:export"))).status).toBe(200);
    const refused = await call(await tokenWith("reference:read"));
    expect((await expectProblem(refused, 403)).detail).toBe(
      "Requires scope reference:export; the token has reference:read",
    );
    const user = await loginAs(t, "acme", await t.user("acme", ["viewer"]));
    expect((await call(user.accessToken)).status).toBe(200);
  });
});
