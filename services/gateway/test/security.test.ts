import { afterAll, describe, expect, test } from "bun:test";
import { createTokenVerifier, requireAuth, requireRole } from "@fig/auth";
import { AppError, problemResponse } from "@fig/service";
import { TEST_AUTH } from "@fig/testing";
import { Hono } from "hono";
import { auth, bearer, testGateway } from "./harness.ts";

/** A zero-trust upstream: verifies the token itself and keeps each tenant's files to that tenant. */
function startZeroTrustUpstream(name: string, verifier = auth.verifier) {
  const hits: { path: string; headers: Record<string, string> }[] = [];
  const app = new Hono();
  app.onError((err, c) => (err instanceof AppError ? problemResponse(c, err) : c.text("boom", 500)));
  app.use("*", async (c, next) => {
    hits.push({ path: c.req.path, headers: Object.fromEntries(c.req.raw.headers) });
    await next();
  });
  app.use("/api/*", requireAuth(verifier));
  app.get("/api/files/:id", requireRole("viewer"), (c) => {
    const { tenant } = c.get("auth");
    if (c.req.param("id") !== `${tenant}-file`) throw new AppError("not_found", "No such file");
    return c.json({ id: c.req.param("id"), tenant, upstream: name });
  });
  app.post("/api/files", requireRole("editor"), (c) =>
    c.json({ tenant: c.get("auth").tenant, upstream: name }, 201),
  );
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch });
  return { url: `http://127.0.0.1:${server.port}`, hits, stop: () => server.stop(true) };
}

const monolith = startZeroTrustUpstream("monolith");
const validation = startZeroTrustUpstream("validation");
afterAll(() => {
  monolith.stop();
  validation.stop();
});
const g = testGateway({
  urls: { monolith: monolith.url, referenceData: monolith.url, validation: validation.url },
});
const invalid = await auth.invalidTokens();
const hitsNow = () => monolith.hits.length + validation.hits.length;

async function expectRefused(res: Response, status: number, hitsBefore: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toContain("application/problem+json");
  expect(res.headers.get("ratelimit-limit")).not.toBeNull();
  const body = await res.json();
  expect(body.status).toBe(status);
  expect(JSON.stringify(body)).not.toContain("at "); // no stack trace
  expect(hitsNow()).toBe(hitsBefore); // refused at the gateway: the upstream never saw it
}

describe("security table through the gateway", () => {
  test("no token → 401 with a Bearer challenge", async () => {
    const before = hitsNow();
    const res = await g.app.request("/api/files/test-tenant-file");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="fig"');
    await expectRefused(res, 401, before);
  });

  for (const kind of ["expired", "foreignKey", "algNone", "wrongAudience", "wrongIssuer"] as const) {
    test(`${kind} token → 401 invalid_token`, async () => {
      const before = hitsNow();
      const res = await g.app.request("/api/files/test-tenant-file", {
        headers: { authorization: `Bearer ${invalid[kind]}` },
      });
      expect(res.headers.get("www-authenticate")).toContain('error="invalid_token"');
      await expectRefused(res, 401, before);
    });
  }

  test("wrong role: a viewer's POST → 403 insufficient_scope; a gate token cannot write either", async () => {
    for (const roles of [["viewer"], ["gate"]] as const) {
      const before = hitsNow();
      const res = await g.app.request("/api/files", {
        method: "POST",
        headers: await bearer({ roles: [...roles] }),
      });
      expect(res.headers.get("www-authenticate")).toContain("insufficient_scope");
      await expectRefused(res, 403, before);
    }
  });

  test("spoofed x-fig-* identity headers never reach the upstream; it answers for the token's tenant", async () => {
    const res = await g.app.request("/api/files/test-tenant-file", {
      headers: { ...(await bearer()), "x-fig-tenant": "acme", "x-fig-user": "admin", "x-fig-roles": "admin" },
    });
    expect(res.status).toBe(200);
    expect((await res.json()).tenant).toBe("test-tenant");
    const seen = monolith.hits.at(-1)?.headers ?? {};
    expect(Object.keys(seen).some((h) => h.startsWith("x-fig-"))).toBe(false);
  });

  test("a viewer's pin header is ignored (and stripped)", async () => {
    await g.store.change(
      "validation",
      { kind: "weights", weights: { monolith: 100, validation: 0 } },
      { who: "t", why: null },
    );
    const before = validation.hits.length;
    const res = await g.app.request("/api/files/test-tenant-file", {
      headers: { ...(await bearer({ roles: ["viewer"] })), "x-fig-route": "validation" },
    });
    expect(res.headers.get("fig-served-by")).toBe("monolith");
    expect(validation.hits.length).toBe(before);
    expect(monolith.hits.at(-1)?.headers["x-fig-route"]).toBeUndefined();
  });

  test("other tenant: the gateway forwards, the upstream's own tenant check answers 404", async () => {
    const res = await g.app.request("/api/files/test-tenant-file", {
      headers: await bearer({ tenant: "acme" }),
    });
    expect(res.status).toBe(404);
    expect(res.headers.get("fig-served-by")).toBe("monolith");
  });

  test("zero trust: an upstream refuses a token the gateway admitted when its own keys disagree", async () => {
    const strict = startZeroTrustUpstream(
      "strict",
      createTokenVerifier({
        issuer: TEST_AUTH.issuer,
        audience: "another-audience",
        devSecret: TEST_AUTH.secret,
      }),
    );
    try {
      const gateway = testGateway({
        urls: { monolith: strict.url, referenceData: strict.url, validation: strict.url },
      });
      const res = await gateway.app.request("/api/files/test-tenant-file", { headers: await bearer() });
      expect(res.status).toBe(401);
      expect(res.headers.get("fig-served-by")).toBe("monolith");
      expect(strict.hits.length).toBe(1);
    } finally {
      strict.stop();
    }
  });
});
