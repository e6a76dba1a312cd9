import type { AuthClaims, Role, TokenVerifier } from "@fig/auth";
import { roleAtLeast } from "@fig/auth";
import { AppError } from "@fig/service";
import type { RoutePolicies } from "../routes.ts";

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64 = "[A-Za-z0-9\\-._~+/]+=*";
const B64TOKEN = new RegExp(`^${B64}$`);
/** `Bearer ` (that exact spelling, one space) and a b64token, nothing around them. */
const CANONICAL = new RegExp(`^Bearer ${B64}$`);
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/** A request's identity: verified claims, no token at all, or a refusal (bad token) to answer after rate limiting. */
export type Identity =
  | { kind: "token"; claims: AuthClaims }
  | { kind: "anonymous" }
  | { kind: "refused"; error: AppError };

const challenge = (error: string, detail: string) =>
  new AppError("unauthorized", detail, {
    headers: { "www-authenticate": `Bearer error="${error}", error_description="${detail.slice(0, 200)}"` },
  });

/**
 * Reads and verifies the bearer token, if any. Never throws: a bad token is returned as `refused` so the
 * caller can still count it against the client's rate limit (no free guessing) before answering 401.
 *
 * @example
 * const identity = await identify(verifier, c.req.header("authorization"));
 */
export async function identify(verifier: TokenVerifier, header: string | undefined): Promise<Identity> {
  return identifyKnown(verifier, header) ?? identifyAny(verifier, header);
}

const ANONYMOUS: Identity = { kind: "anonymous" };

/**
 * `identify` without a promise where it needs none: no header, or the canonical form of a token verified
 * moments ago (the verifier's cache). Undefined otherwise: the caller awaits `identify`.
 */
export function identifyKnown(verifier: TokenVerifier, header: string | undefined): Identity | undefined {
  if (header === undefined) return ANONYMOUS;
  if (!CANONICAL.test(header)) return undefined;
  // The header itself when the verifier can look it up as it is (no token string cut out per request).
  const known = verifier.cachedBearer ? verifier.cachedBearer(header) : verifier.cached?.(header.slice(7));
  if (!known) return undefined;
  // The verifier's cache hands back the same claims object for a token: its identity object is kept with it.
  let identity = identities.get(known);
  if (identity === undefined) {
    identity = { kind: "token", claims: known };
    identities.set(known, identity);
  }
  return identity;
}
const identities = new WeakMap<AuthClaims, Identity>();

async function identifyAny(verifier: TokenVerifier, header: string | undefined): Promise<Identity> {
  if (header === undefined) return ANONYMOUS;
  // The form nearly every client sends, "Bearer <token>", read without trimming and splitting the header.
  if (CANONICAL.test(header)) return verified(verifier, header.slice(7));
  if (header.trim() === "") return { kind: "anonymous" };
  const [scheme = "", token, ...rest] = header.trim().split(/\s+/);
  if (scheme.toLowerCase() !== "bearer") {
    return {
      kind: "refused",
      error: new AppError("unauthorized", "Authorization header must use the Bearer scheme", {
        headers: { "www-authenticate": 'Bearer realm="fig"' },
      }),
    };
  }
  if (token === undefined || rest.length > 0 || !B64TOKEN.test(token)) {
    return { kind: "refused", error: challenge("invalid_token", "token is malformed") };
  }
  return verified(verifier, token);
}

async function verified(verifier: TokenVerifier, token: string): Promise<Identity> {
  // A token verified moments ago (the same client's previous request) is read back without a promise.
  const known = verifier.cached?.(token);
  if (known) return { kind: "token", claims: known };
  try {
    return { kind: "token", claims: await verifier.verifyBearerToken(token) };
  } catch (error) {
    if (error instanceof AppError) return { kind: "refused", error };
    throw error;
  }
}

/**
 * The gateway's check of a route's auth policy: 401 without a valid token, 403 without the role the
 * method needs (reads: `read`, others: `write`). Upstreams verify again (zero trust); this check keeps
 * refused requests off them.
 */
export function authorize(
  policy: RoutePolicies["auth"],
  method: string,
  identity: Identity,
): AuthClaims | undefined {
  if (identity.kind === "refused") throw identity.error;
  if (policy === false) return identity.kind === "token" ? identity.claims : undefined;
  if (identity.kind === "anonymous") {
    throw new AppError("unauthorized", "Missing bearer token", {
      headers: { "www-authenticate": 'Bearer realm="fig"' },
    });
  }
  const need: Role = SAFE.has(method) ? policy.read : policy.write;
  if (!roleAtLeast(identity.claims.roles, need)) {
    const held = identity.claims.roles.length > 0 ? identity.claims.roles.join(", ") : "no role";
    throw new AppError("forbidden", `Requires role ${need} or higher; the token has ${held}`, {
      headers: { "www-authenticate": 'Bearer error="insufficient_scope"' },
    });
  }
  return identity.claims;
}
