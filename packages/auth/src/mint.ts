import { SignJWT } from "jose";
import { AuthClaimsSchema } from "./claims.ts";
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER, MIN_DEV_SECRET_BYTES } from "./defaults.ts";
import type { Role } from "./roles.ts";
import { parseTtlSeconds } from "./ttl.ts";

export type MintDevTokenOptions = {
  /** The HS256 dev secret the verifier is configured with (at least 32 bytes). */
  secret: string;
  sub: string;
  tenant: string;
  roles: Role[];
  /** Lifetime: seconds, or "30m", "1h", "2d". Default "1h". */
  ttl?: string | number;
  /** Default "fig-dev", as in `readAuthConfig`. */
  issuer?: string;
  /** Default "fig", as in `readAuthConfig`. */
  audience?: string;
};

/**
 * Signs an HS256 token for development and tests, accepted by a verifier configured with the same dev secret.
 *
 * @example
 * const token = await mintDevToken({ secret: DEV_SECRET_DEFAULT, sub: "alice", tenant: "acme", roles: ["editor"] });
 * await app.request("/api/codes", { headers: { authorization: `Bearer ${token}` } });
 */
export async function mintDevToken({
  secret,
  sub,
  tenant,
  roles,
  ttl = "1h",
  issuer = DEFAULT_ISSUER,
  audience = DEFAULT_AUDIENCE,
}: MintDevTokenOptions): Promise<string> {
  const key = new TextEncoder().encode(secret);
  if (key.length < MIN_DEV_SECRET_BYTES) {
    throw new Error(`mintDevToken: secret must be at least ${MIN_DEV_SECRET_BYTES} bytes`);
  }
  const claims = AuthClaimsSchema.parse({ sub, tenant, roles });
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant: claims.tenant, roles: claims.roles })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + parseTtlSeconds(ttl))
    .sign(key);
}
