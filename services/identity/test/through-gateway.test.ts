import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";
import { createServiceTokenSource, createTokenVerifier } from "@fig/auth";
import { createLogger } from "@fig/service";
import { createTestDatabase, TEST_AUTH, type TestDatabase } from "@fig/testing";
import { fetchOwnerTable } from "../../../packages/datasync/src/index.ts";
import { loadRouteFile } from "../../../packages/route-file/src/index.ts";
import { buildApp as buildReferenceData } from "../../dash/reference-data/src/app.ts";
import { fetchReferenceTable } from "../../dash/validation/src/domain/reference-model.ts";
// The real gateway and a real JWKS-verifying service, from their sources: this file tests how they meet identity.
import { buildGateway } from "../../gateway/src/app.ts";
import { createMemoryRouteStore } from "../../gateway/src/state/memory-store.ts";
import { loginAs, PASSWORD, useIdentityApp } from "./helpers.ts";

// Through the gateway built from the repository's fig.yaml: a login, the key set and discovery at the root, and
// the token it yields accepted by the gateway and by reference-data, both verifying only via the JWKS.

const t = useIdentityApp();
const logger = createLogger({ service: "identity-test", level: "silent" });
const servers: { stop(force: boolean): unknown }[] = [];
const serve = (fetch: (req: Request) => Response | Promise<Response>) => {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch });
  servers.push(server);
  return `http://127.0.0.1:${server.port}`;
};
const jwksVerifier = (jwksUrl: string) =>
  createTokenVerifier({
    issuer: TEST_AUTH.issuer,
    audience: TEST_AUTH.audience,
    jwksUrl,
    algorithms: ["EdDSA"],
  });

let referenceDb: TestDatabase;
let gateway = "";
let referenceData = "";

beforeAll(async () => {
  referenceDb = await createTestDatabase({
    service: "reference-data",
    migrationsFolder: fileURLToPath(new URL("../../dash/reference-data/drizzle", import.meta.url)),
  });
  const identity = serve((req) => t.app.fetch(req));
  // reference-data reads the key set through the gateway, as a service would in production.
  let referenceApp: ReturnType<typeof buildReferenceData> | undefined;
  referenceData = serve((req) => (referenceApp as ReturnType<typeof buildReferenceData>).fetch(req));
  const { table } = loadRouteFile({
    file: fileURLToPath(new URL("../../../fig.yaml", import.meta.url)),
    // The monolith's side of /api/codes is served by the same contract; point both at reference-data.
    env: { IDENTITY_URL: identity, MONOLITH_URL: referenceData, REFERENCE_DATA_URL: referenceData },
  });
  const { app } = buildGateway({
    table,
    store: createMemoryRouteStore([table.defaultRoute, ...table.routes]),
    verifier: jwksVerifier(`${identity}/.well-known/jwks.json`),
    logger,
  });
  gateway = serve((req) => app.fetch(req));
  referenceApp = buildReferenceData({
    db: referenceDb.db,
    verifier: jwksVerifier(`${gateway}/.well-known/jwks.json`),
    logger,
  });
});

afterAll(async () => {
  for (const server of servers) server.stop(true);
  await referenceDb?.drop();
});

describe("identity through the gateway", () => {
  test("a login through the gateway yields a token the gateway and reference-data accept via the JWKS", async () => {
    const email = await t.user("acme", ["viewer"]);
    const login = await fetch(`${gateway}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ tenant: "acme", email, password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    expect(login.headers.get("fig-served-by")).toBe("identity");
    const { accessToken } = (await login.json()) as { accessToken: string };
    const codes = await fetch(`${gateway}/api/codes?limit=1`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(codes.status).toBe(200);
    // And straight at the service, which verified it itself with the key set it read through the gateway.
    const direct = await fetch(`${referenceData}/api/codes?limit=1`, {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(direct.status).toBe(200);
    const forged = `${accessToken.slice(0, -4)}AAAA`;
    expect(
      (await fetch(`${referenceData}/api/codes?limit=1`, { headers: { authorization: `Bearer ${forged}` } }))
        .status,
    ).toBe(401);
    expect((await fetch(`${gateway}/api/codes?limit=1`)).status).toBe(401);
  });

  test("the key set and discovery are served at the root; an unrouted root path is still 404", async () => {
    const jwks = await fetch(`${gateway}/.well-known/jwks.json`);
    expect(jwks.status).toBe(200);
    expect(jwks.headers.get("cache-control")).toBe("public, max-age=300");
    expect(((await jwks.json()) as { keys: unknown[] }).keys.length).toBeGreaterThanOrEqual(2);
    const discovery = await fetch(`${gateway}/.well-known/openid-configuration`);
    expect(discovery.status).toBe(200);
    expect(((await discovery.json()) as { issuer: string }).issuer).toBe(TEST_AUTH.issuer);
    expect((await fetch(`${gateway}/elsewhere/x`)).status).toBe(404);
  });

  test("/api/users through the gateway: a viewer is refused there, the tenant's admin served", async () => {
    const viewer = await loginAs(t, "acme", await t.user("acme", ["viewer"]));
    const admin = await loginAs(t, "acme", await t.user("acme", ["admin"]));
    const as = (token: string) =>
      fetch(`${gateway}/api/users`, { headers: { authorization: `Bearer ${token}` } });
    const refused = await as(viewer.accessToken);
    expect(refused.status).toBe(403);
    expect(refused.headers.get("fig-served-by")).toBeNull();
    expect((await as(admin.accessToken)).status).toBe(200);
  });

  test("a service token from /oauth/token through the gateway exports with its scope, and only with it", async () => {
    const token = async (scope: string) => {
      const res = await fetch(`${gateway}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({
          grant_type: "client_credentials",
          client_id: "validation",
          client_secret: "test-secret-validation",
          scope,
        }),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { access_token: string }).access_token;
    };
    const exportWith = async (bearer: string) =>
      fetch(`${referenceData}/api/codes/export`, { headers: { authorization: `Bearer ${bearer}` } });
    expect((await exportWith(await token("reference:export"))).status).toBe(200);
    expect((await exportWith(await token("reference:read"))).status).toBe(403);
    // A list route is not a service route: a read-scoped service token reads it.
    const list = await fetch(`${referenceData}/api/codes?limit=1`, {
      headers: { authorization: `Bearer ${await token("reference:read")}` },
    });
    expect(list.status).toBe(200);
  });

  test("validation's read model and the datasync re-reads call reference-data with identity's service tokens", async () => {
    const client = {
      tokenUrl: `${gateway}/oauth/token`,
      clientId: "validation",
      clientSecret: "test-secret-validation",
    };
    // No dev secret, no fixed token: only the client-credentials grant can authorise these calls.
    const exported = await fetchReferenceTable(
      { url: referenceData, tokenSource: createServiceTokenSource({ ...client, scope: "reference:export" }) },
      "codes",
    );
    expect(exported).toEqual([]);
    const reread = await fetchOwnerTable(
      {
        url: referenceData,
        tokenSource: createServiceTokenSource({ ...client, scope: "reference:read" }),
        caller: "monolith",
      },
      "codes",
    );
    expect(reread).toEqual([]);
    // The read model's export refuses a token without the export scope.
    await expect(
      fetchReferenceTable(
        { url: referenceData, tokenSource: createServiceTokenSource({ ...client, scope: "reference:read" }) },
        "codes",
      ),
    ).rejects.toThrow("HTTP 403");
  });
});
