import { afterAll, beforeAll, expect } from "bun:test";
import { fileURLToPath } from "node:url";
import { createTokenVerifier, type Role, type TokenVerifier } from "@fig/auth";
import { rowsOf } from "@fig/db";
import { createLogger, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE, problemCatalog } from "@fig/service";
import {
  createTestAuth,
  createTestDatabase,
  TEST_AUTH,
  type TestAuth,
  type TestDatabase,
} from "@fig/testing";
import type { SQL } from "drizzle-orm";
import { buildApp } from "../src/app.ts";
import { DEV_KEY_ENCRYPTION_KEY } from "../src/config.ts";
import { upsertClient } from "../src/domain/clients.ts";
import type { IdentityContext } from "../src/domain/context.ts";
import {
  createKeyCipher,
  createOwnKeyResolver,
  createSigner,
  ensureSigningKeys,
  type KeyCipher,
} from "../src/domain/keys.ts";
import { ensureActiveUser } from "../src/domain/users.ts";

export const MIGRATIONS = fileURLToPath(new URL("../drizzle", import.meta.url));
export const PASSWORD = "correct horse battery staple";
export const THROTTLE = { accountMaxFailures: 3, ipMaxFailures: 6, windowSeconds: 900, lockoutSeconds: 900 };

export type IdentityTest = {
  app: ReturnType<typeof buildApp>;
  tdb: TestDatabase;
  auth: TestAuth;
  cipher: KeyCipher;
  identity: IdentityContext;
  /** Verifies what this service signs (its own keys) and the test dev tokens, as main.ts wires it. */
  verifier: TokenVerifier;
  /** A JSON request; `ip` becomes the client address the login throttle counts. */
  request(
    path: string,
    init?: RequestInit & { json?: unknown; ip?: string; bearer?: string },
  ): Promise<Response>;
  /** A dev token of the test secret, for the security table. */
  devToken(tenant: string, roles: Role[]): Promise<string>;
  /** An active user with PASSWORD; its email is unique to the call. */
  user(tenant: string, roles: Role[], label?: string): Promise<string>;
};

/** One real Postgres database (migrated, dropped afterwards), a key set and one app per test file. */
export function useIdentityApp(): IdentityTest {
  const t = {} as IdentityTest;
  beforeAll(async () => {
    t.tdb = await createTestDatabase({ service: "identity", migrationsFolder: MIGRATIONS });
    t.auth = createTestAuth();
    t.cipher = await createKeyCipher(DEV_KEY_ENCRYPTION_KEY);
    await ensureSigningKeys(t.tdb.db, t.cipher);
    t.identity = {
      db: t.tdb.db,
      signer: createSigner(t.tdb.db, t.cipher),
      tokens: { issuer: TEST_AUTH.issuer, audience: TEST_AUTH.audience, accessTtlSeconds: 600 },
      throttle: THROTTLE,
      refreshTtlSeconds: 3600,
    };
    t.verifier = createTokenVerifier({
      issuer: TEST_AUTH.issuer,
      audience: TEST_AUTH.audience,
      keys: createOwnKeyResolver(t.tdb.db, 660_000),
      algorithms: ["EdDSA"],
      devSecret: TEST_AUTH.secret,
    });
    t.app = buildApp({
      identity: t.identity,
      verifier: t.verifier,
      clientIp: (c) => c.req.header("x-test-ip") ?? null,
      publicUrl: "http://gateway.test",
      scopes: ["reference:export", "reference:read"],
      logger: createLogger({ service: "identity", level: "silent" }),
    });
    t.request = async (path, init = {}) => {
      const { json, ip, bearer, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (json !== undefined) headers.set("content-type", "application/json");
      if (ip) headers.set("x-test-ip", ip);
      if (bearer) headers.set("authorization", `Bearer ${bearer}`);
      return await t.app.request(path, {
        ...rest,
        headers,
        ...(json !== undefined ? { method: rest.method ?? "POST", body: JSON.stringify(json) } : {}),
      });
    };
    t.devToken = (tenant, roles) => t.auth.token({ tenant, roles, sub: `dev-${tenant}` });
    t.user = async (tenant, roles, label = "user") => {
      const email = `${label}-${crypto.randomUUID().slice(0, 8)}@${tenant}.test`;
      await ensureActiveUser(t.tdb.db, { tenant, email, password: PASSWORD, roles, by: "test" });
      return email;
    };
    await upsertClient(t.tdb.db, {
      id: "validation",
      secret: "test-secret-validation",
      tenant: "fig-system",
      roles: ["viewer"],
      scopes: ["reference:export", "reference:read"],
    });
  });
  afterAll(async () => {
    await t.tdb?.drop();
  });
  return t;
}

export type TokenPairBody = {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: string;
};

/** Logs in and returns the token pair (asserting 200). */
export async function loginAs(
  t: IdentityTest,
  tenant: string,
  email: string,
  ip = "10.0.0.1",
): Promise<TokenPairBody> {
  const res = await t.request("/api/auth/login", { json: { tenant, email, password: PASSWORD }, ip });
  expect(res.status).toBe(200);
  return (await res.json()) as TokenPairBody;
}

/** The first row's `n` of a count query, run as the owner (outside withTenant: every tenant's rows). */
export async function countOf(t: IdentityTest, query: SQL): Promise<number> {
  const [row] = rowsOf<{ n: number | string }>(await t.tdb.db.execute(query));
  return Number(row?.n ?? 0);
}

type ProblemBody = { type: string; title: string; status: number; detail: string; instance: string };

/** Asserts an RFC 9457 problem of `status` from the shared catalog and returns it. */
export async function expectProblem(res: Response, status: number): Promise<ProblemBody> {
  const text = await res.text();
  expect({ status: res.status, body: text.slice(0, 300) }).toMatchObject({ status });
  expect(res.headers.get("content-type")).toBe(PROBLEM_CONTENT_TYPE);
  const body = JSON.parse(text) as ProblemBody;
  const entry = Object.entries(problemCatalog).find(([, p]) => p.status === status);
  const [type, { title }] = entry as [string, { title: string }];
  expect(body).toMatchObject({ type: `${PROBLEM_TYPE_BASE}${type}`, title, status });
  expect(text).not.toMatch(/\n\s+at |node_modules/);
  return body;
}
