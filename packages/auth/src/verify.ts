import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  errors,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import { invalidTokenError } from "./challenge.ts";
import { type AuthClaims, AuthClaimsSchema } from "./claims.ts";
import { MIN_DEV_SECRET_BYTES } from "./defaults.ts";

/** Algorithms a key set may be pinned to: asymmetric only, so a public key can never act as an HMAC secret. */
export const ASYMMETRIC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
] as const;

const DEFAULT_ALGORITHMS = ["RS256", "ES256", "EdDSA"];
const DEV_SECRET_ALGORITHMS = ["HS256"];
// Far above any real Fig token; refusing early keeps garbage headers from reaching the parser.
const MAX_TOKEN_LENGTH = 8192;

export type TokenVerifierOptions = {
  /** Expected `iss`. */
  issuer: string;
  /** Expected `aud` (the token's `aud` may be a list that contains it). */
  audience: string;
  /** Remote JWKS, fetched and cached by jose. */
  jwksUrl?: string;
  /** Local JWKS, for tests and air-gapped setups. */
  jwks?: JSONWebKeySet;
  /** A key resolver the caller owns (the identity service verifies with its own key store). */
  keys?: JWTVerifyGetKey;
  /**
   * A token whose `kid` the cached key set lacks makes the verifier refetch it, at most once per this many ms
   * (jose's cooldownDuration). Default 30 000. The identity service publishes a key before it signs with it,
   * so only a verifier whose key set predates that publication ever needs the refetch.
   */
  jwksCooldownMs?: number;
  /** The key set is refetched when older than this, whatever the tokens say. Default 600 000 (10 min). */
  jwksCacheMaxAgeMs?: number;
  /** Called at every fetch of the remote key set (metrics, tests). */
  onKeySetFetch?: () => void;
  /** HS256 shared secret, dev and test only (`readAuthConfig` refuses it in production). */
  devSecret?: string;
  /** Algorithms accepted from the key set; asymmetric only. Default RS256, ES256, EdDSA. */
  algorithms?: string[];
  /** Clock skew allowed on `exp` and `nbf`. Default 30. */
  clockToleranceSeconds?: number;
  /** Verified tokens remembered at most (the oldest goes first). Default 10 000. */
  cacheEntries?: number;
};

export type TokenVerifier = {
  /** Verifies a bearer token and returns its Fig claims; throws AppError("unauthorized") otherwise. */
  verifyBearerToken(token: string): Promise<AuthClaims>;
  /**
   * The claims of a token this verifier verified recently and still holds (see `createTokenVerifier`'s cache),
   * synchronously; undefined when it would have to verify it. Never verifies, never throws.
   */
  cached?(token: string): AuthClaims | undefined;
  /**
   * `cached` of an Authorization header's exact value, `Bearer <token>` (that spelling, one space): a hot
   * caller holding the header need not cut the token out of it (a string per request) to ask.
   */
  cachedBearer?(header: string): AuthClaims | undefined;
};

/**
 * Builds a bearer token verifier with pinned algorithms: the key set verifies only asymmetric
 * algorithms, the dev secret only HS256, and `alg: none` never.
 *
 * @example
 * const verifier = createTokenVerifier({ issuer: "fig-dev", audience: "fig", jwksUrl: "https://id.example/jwks.json" });
 * const claims = await verifier.verifyBearerToken(token);
 */
const CACHE_ENTRIES = 10_000;
const CACHE_MS = 60_000;

export function createTokenVerifier({
  issuer,
  audience,
  jwksUrl,
  jwks,
  keys,
  devSecret,
  algorithms = DEFAULT_ALGORITHMS,
  clockToleranceSeconds = 30,
  jwksCooldownMs = 30_000,
  jwksCacheMaxAgeMs = 600_000,
  onKeySetFetch,
  cacheEntries = CACHE_ENTRIES,
}: TokenVerifierOptions): TokenVerifier {
  if (!issuer || !audience) throw new Error("createTokenVerifier: issuer and audience are required");
  if (!Number.isFinite(clockToleranceSeconds) || clockToleranceSeconds < 0) {
    throw new Error("createTokenVerifier: clockToleranceSeconds must be a non-negative number");
  }
  const keySet =
    keys ??
    createKeySet(jwksUrl, jwks, {
      cooldownMs: jwksCooldownMs,
      cacheMaxAgeMs: jwksCacheMaxAgeMs,
      onKeySetFetch,
    });
  const secretBytes = devSecret === undefined ? undefined : encodeDevSecret(devSecret);
  // Imported once: handing jose raw bytes re-imports the HMAC key on every verification.
  let secretKey: Promise<CryptoKey> | undefined;
  const secret = secretBytes && {
    key: () => {
      secretKey ??= crypto.subtle.importKey(
        "raw",
        secretBytes as Uint8Array<ArrayBuffer>,
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["verify"],
      );
      return secretKey;
    },
  };
  if (!keySet && !secret) {
    throw new Error("createTokenVerifier: no key source; set jwksUrl or jwks (or devSecret in dev/test)");
  }
  const pinned = pinAsymmetricAlgorithms(algorithms);
  const claimChecks = {
    issuer,
    audience,
    clockTolerance: clockToleranceSeconds,
    requiredClaims: ["exp"],
  };

  async function verifyWithKeys(token: string, alg: string): Promise<JWTPayload> {
    if (secret && (alg === "HS256" || !keySet)) {
      return (
        await jwtVerify(token, await secret.key(), { ...claimChecks, algorithms: DEV_SECRET_ALGORITHMS })
      ).payload;
    }
    // keySet is set here: the constructor demands a key source and the branch above took the secret.
    return (await jwtVerify(token, keySet as JWTVerifyGetKey, { ...claimChecks, algorithms: pinned }))
      .payload;
  }

  // Verified tokens are remembered (bounded, and never past their exp or CACHE_MS) so a client that sends
  // the same token on every request pays for the signature check once. Only a token that passed every check
  // is stored, keyed by its exact string (as the header carries it: `Bearer <token>`, so `cachedBearer` reads
  // the header's own string); a key withdrawn from the key set (rotation, revocation) stops being honoured
  // within CACHE_MS of the token's verification, never later.
  const verified = new Map<string, { claims: AuthClaims; until: number }>();

  function cachedBearer(header: string): AuthClaims | undefined {
    const hit = verified.get(header);
    if (hit === undefined) return undefined;
    if (hit.until > Date.now()) return hit.claims;
    verified.delete(header);
    return undefined;
  }

  function cached(token: string): AuthClaims | undefined {
    return cachedBearer(`Bearer ${token}`);
  }

  async function verifyBearerToken(token: string): Promise<AuthClaims> {
    const hit = cached(token);
    if (hit) return hit;
    const alg = readAlgorithm(token);
    let payload: JWTPayload;
    try {
      payload = await verifyWithKeys(token, alg);
    } catch (error) {
      throw invalidTokenError(describeFailure(error, alg), error);
    }
    const claims = parseClaims(payload);
    if (verified.size >= cacheEntries) verified.delete(verified.keys().next().value as string);
    verified.set(`Bearer ${token}`, {
      claims,
      until: Math.min(Date.now() + CACHE_MS, (payload.exp as number) * 1000),
    });
    return claims;
  }

  return { verifyBearerToken, cached, cachedBearer };
}

type RemoteKeySetOptions = {
  cooldownMs: number;
  cacheMaxAgeMs: number;
  onKeySetFetch?: (() => void) | undefined;
};

function createKeySet(
  jwksUrl: string | undefined,
  jwks: JSONWebKeySet | undefined,
  { cooldownMs, cacheMaxAgeMs, onKeySetFetch }: RemoteKeySetOptions,
): JWTVerifyGetKey | undefined {
  if (jwksUrl && jwks) throw new Error("createTokenVerifier: set jwksUrl or jwks, not both");
  if (jwks) return createLocalJWKSet(jwks);
  if (!jwksUrl) return undefined;
  let url: URL;
  try {
    url = new URL(jwksUrl);
  } catch {
    throw new Error(`createTokenVerifier: jwksUrl is not a URL: ${jwksUrl}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new Error("createTokenVerifier: jwksUrl must be http(s)");
  }
  // jose refetches on an unknown kid once the cooldown has passed, and one fetch serves every waiting request.
  return createRemoteJWKSet(url, {
    cooldownDuration: cooldownMs,
    cacheMaxAge: cacheMaxAgeMs,
    ...(onKeySetFetch
      ? {
          [customFetch]: (input: string | URL | Request, init?: RequestInit) => {
            onKeySetFetch();
            return fetch(input, init);
          },
        }
      : {}),
  });
}

function encodeDevSecret(devSecret: string): Uint8Array {
  const bytes = new TextEncoder().encode(devSecret);
  if (bytes.length < MIN_DEV_SECRET_BYTES) {
    throw new Error(`createTokenVerifier: devSecret must be at least ${MIN_DEV_SECRET_BYTES} bytes`);
  }
  return bytes;
}

function pinAsymmetricAlgorithms(algorithms: string[]): string[] {
  const allowed: readonly string[] = ASYMMETRIC_ALGORITHMS;
  const refused = algorithms.filter((alg) => !allowed.includes(alg));
  if (refused.length > 0 || algorithms.length === 0) {
    throw new Error(
      `createTokenVerifier: algorithms must be a non-empty subset of ${ASYMMETRIC_ALGORITHMS.join(", ")}; refused: ${refused.join(", ") || "(empty list)"}`,
    );
  }
  return [...algorithms];
}

function readAlgorithm(token: string): string {
  if (token.length > MAX_TOKEN_LENGTH) throw invalidTokenError("token is malformed (too long)");
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch (error) {
    throw invalidTokenError("token is malformed", error);
  }
  if (typeof alg !== "string") throw invalidTokenError("token is malformed (no alg in header)");
  if (alg.toLowerCase() === "none") throw invalidTokenError("unsigned tokens (alg none) are not accepted");
  return alg;
}

// Header and claim names are attacker-controlled: echo them only when they look like names.
function safeName(alg: string): string {
  return /^[A-Za-z0-9]{1,16}$/.test(alg) ? alg : "(unrecognised)";
}

function describeFailure(error: unknown, alg: string): string {
  if (error instanceof errors.JWTExpired) return "token expired";
  if (error instanceof errors.JWTClaimValidationFailed) return describeClaimFailure(error);
  if (error instanceof errors.JWSSignatureVerificationFailed) return "token signature is invalid";
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return `token algorithm ${safeName(alg)} is not allowed`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return "no signing key matches the token";
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return "token is malformed";
  if (error instanceof errors.JWKSTimeout) return "signing keys are unavailable (key set fetch timed out)";
  // Remote key set answered with a non-200 or non-JSON body; jose reports that as a bare JOSEError.
  if (
    error instanceof errors.JWKSInvalid ||
    (error instanceof errors.JOSEError && error.code === "ERR_JOSE_GENERIC")
  ) {
    return "signing keys are unavailable";
  }
  return "token could not be verified";
}

function describeClaimFailure(error: InstanceType<typeof errors.JWTClaimValidationFailed>): string {
  const missing = error.reason === "missing";
  switch (error.claim) {
    case "nbf":
      return "token is not yet valid (nbf)";
    case "iss":
      return missing ? "token has no issuer (iss)" : "token issuer (iss) is not accepted";
    case "aud":
      return missing ? "token has no audience (aud)" : "token audience (aud) is not accepted";
    case "exp":
      return missing ? "token has no expiry (exp)" : "token expiry (exp) is invalid";
    default:
      return `token claim ${safeName(error.claim)} is invalid`;
  }
}

function parseClaims(payload: JWTPayload): AuthClaims {
  const parsed = AuthClaimsSchema.safeParse(payload);
  if (parsed.success) return parsed.data;
  const claims = [...new Set(parsed.error.issues.map((issue) => issue.path.join(".") || "(root)"))];
  throw invalidTokenError(`token claims missing or invalid: ${claims.join(", ")}`);
}
