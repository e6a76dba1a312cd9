import { AppError, problemResponse } from "@fig/service";
import { Hono } from "hono";
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { requireAuth, requireRole } from "../src/middleware.ts";
import type { TokenVerifier } from "../src/verify.ts";

export const ISSUER = "fig-test";
export const AUDIENCE = "fig";
export const SECRET = "test-secret-0123456789abcdef-0123456789";
export const OTHER_SECRET = "another-secret-0123456789abcdef-012345";
export const REQUEST_ID = "req-test-1";

const encoder = new TextEncoder();
const now = () => Math.floor(Date.now() / 1000);

export function base64url(value: string): string {
  return Buffer.from(value).toString("base64url");
}

/** Claims a valid Fig token carries, one hour from expiry. */
export function figClaims(overrides: JWTPayload = {}): JWTPayload {
  return {
    sub: "alice",
    tenant: "acme",
    roles: ["editor"],
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now(),
    exp: now() + 3600,
    ...overrides,
  };
}

export function signHs256(claims: JWTPayload, secret: string | Uint8Array = SECRET): Promise<string> {
  const key = typeof secret === "string" ? encoder.encode(secret) : secret;
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(key);
}

/** An RSA key pair with its public half as a one-key JWKS. */
export async function rsaKeys(kid = "test-rsa-1") {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  const sign = (claims: JWTPayload) =>
    new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT", kid }).sign(privateKey);
  return { publicKey, privateKey, publicJwk, jwks: { keys: [publicJwk] }, sign };
}

/** The app every HTTP test talks to: `/me` needs any valid token, `/edit` needs editor or admin. */
export function createTestApp(verifier: TokenVerifier) {
  const app = new Hono();
  app.onError((err, c) => (err instanceof AppError ? problemResponse(c, err) : c.text("boom", 500)));
  app.use(async (c, next) => {
    c.set("requestId", REQUEST_ID);
    await next();
  });
  app.use("/*", requireAuth(verifier));
  app.get("/me", (c) => c.json(c.get("auth")));
  app.get("/edit", requireRole("editor"), (c) => c.json({ ok: true }));
  app.get("/admin", requireRole("admin"), (c) => c.json({ ok: true }));
  return app;
}

export function bearer(token: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${token}` } };
}
