import { createTokenVerifier, mintDevToken, type Role, type TokenVerifier } from "@fig/auth";

/** Issuer, audience and HS256 secret every service's tests share; never used outside tests. */
export const TEST_AUTH = {
  issuer: "fig-test",
  audience: "fig",
  secret: "fig-test-secret-not-for-production-0123456789",
} as const;

/** A second secret, for tokens that must fail signature verification. */
const FOREIGN_SECRET = "fig-test-foreign-secret-0123456789abcdefghij";

export type TestTokenOptions = { roles?: Role[]; tenant?: string; sub?: string; ttl?: string };

/** Tokens a verifier must refuse, each otherwise valid and holding the admin role. */
export type InvalidTokenKind = "expired" | "foreignKey" | "algNone" | "wrongAudience" | "wrongIssuer";

export type TestAuth = {
  /** Verifies tokens minted by `token()` (HS256, the test secret, issuer fig-test, audience fig). */
  verifier: TokenVerifier;
  /** A valid bearer token; defaults: roles [viewer], tenant "test-tenant", sub "test-user", ttl "1h". */
  token(options?: TestTokenOptions): Promise<string>;
  /** One token per way a token can be wrong, for security tables. */
  invalidTokens(): Promise<Record<InvalidTokenKind, string>>;
};

const base64url = (value: string | Uint8Array) => Buffer.from(value).toString("base64url");

// mintDevToken only mints live tokens; an expired one is signed here with WebCrypto.
async function signHs256(payload: Record<string, unknown>, secret: string): Promise<string> {
  const input = `${base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${base64url(JSON.stringify(payload))}`;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(input));
  return `${input}.${base64url(new Uint8Array(signature))}`;
}

/**
 * The one way service tests get a verifier and bearer tokens.
 *
 * @example
 * const auth = createTestAuth();
 * const app = buildApp({ db, verifier: auth.verifier, logger });
 * const token = await auth.token({ roles: ["editor"] });
 * await app.request("/api/codes", { headers: { authorization: `Bearer ${token}` } });
 */
export function createTestAuth(): TestAuth {
  const { issuer, audience, secret } = TEST_AUTH;
  const verifier = createTokenVerifier({ issuer, audience, devSecret: secret });

  function token({
    roles = ["viewer"],
    tenant = "test-tenant",
    sub = "test-user",
    ttl = "1h",
  }: TestTokenOptions = {}) {
    return mintDevToken({ secret, issuer, audience, sub, tenant, roles, ttl });
  }

  async function invalidTokens(): Promise<Record<InvalidTokenKind, string>> {
    const now = Math.floor(Date.now() / 1000);
    const claims = { sub: "test-user", tenant: "test-tenant", roles: ["admin"] as Role[] };
    const payload = { ...claims, iss: issuer, aud: audience, iat: now, exp: now + 3600 };
    return {
      // Well past the verifier's clock tolerance.
      expired: await signHs256({ ...payload, iat: now - 7200, exp: now - 3600 }, secret),
      foreignKey: await mintDevToken({ ...claims, secret: FOREIGN_SECRET, issuer, audience }),
      algNone: `${base64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${base64url(JSON.stringify(payload))}.`,
      wrongAudience: await mintDevToken({ ...claims, secret, issuer, audience: "not-fig" }),
      wrongIssuer: await mintDevToken({ ...claims, secret, issuer: "not-fig-test", audience }),
    };
  }

  return { verifier, token, invalidTokens };
}
