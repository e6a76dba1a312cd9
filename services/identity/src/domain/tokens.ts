import { SignJWT } from "jose";
import { SIGNING_ALG, type Signer } from "./keys.ts";

/** What every access token the service signs shares: who issues it, for whom, for how long. */
export type TokenSettings = { issuer: string; audience: string; accessTtlSeconds: number };

export type AccessClaims = { sub: string; tenant: string; roles: string[]; scope?: string };

/**
 * Signs a short-lived EdDSA access token with the current key; its `kid` names the key in the JWKS.
 *
 * @example
 * const { token, expiresIn } = await issueAccessToken(signer, settings, { sub, tenant, roles });
 */
export async function issueAccessToken(
  signer: Signer,
  { issuer, audience, accessTtlSeconds }: TokenSettings,
  { sub, tenant, roles, scope }: AccessClaims,
): Promise<{ token: string; expiresIn: number }> {
  const { kid, key } = await signer.currentKey();
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({ tenant, roles, ...(scope ? { scope } : {}) })
    .setProtectedHeader({ alg: SIGNING_ALG, kid, typ: "JWT" })
    .setSubject(sub)
    .setIssuer(issuer)
    .setAudience(audience)
    .setIssuedAt(now)
    .setExpirationTime(now + accessTtlSeconds)
    .setJti(crypto.randomUUID())
    .sign(key);
  return { token, expiresIn: accessTtlSeconds };
}
