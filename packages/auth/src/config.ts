import { ConfigError, withoutEmptyValues } from "@fig/service";
import { z } from "zod";
import {
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  DEV_SECRET_DEFAULT,
  MIN_DEV_SECRET_BYTES,
  withDevAuthDefaults,
} from "./defaults.ts";
import type { ClientCredentials } from "./service-token.ts";
import { ASYMMETRIC_ALGORITHMS } from "./verify.ts";

export { DEFAULT_AUDIENCE, DEFAULT_ISSUER, DEV_SECRET_DEFAULT };

const AuthEnvSchema = z.object({
  AUTH_ISSUER: z.string().default(DEFAULT_ISSUER),
  AUTH_AUDIENCE: z.string().default(DEFAULT_AUDIENCE),
  AUTH_JWKS_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  AUTH_DEV_SECRET: z
    .string()
    .refine((secret) => new TextEncoder().encode(secret).length >= MIN_DEV_SECRET_BYTES, {
      error: `must be at least ${MIN_DEV_SECRET_BYTES} bytes`,
    })
    .optional(),
  /** Algorithms the key set may sign with, comma-separated; in production default EdDSA (Fig's identity). */
  AUTH_ALGORITHMS: z
    .string()
    .transform((v) =>
      v
        .split(",")
        .map((a) => a.trim())
        .filter(Boolean),
    )
    .refine(
      (list) =>
        list.length > 0 && list.every((a) => (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a)),
      {
        error: `must be a comma-separated subset of ${ASYMMETRIC_ALGORITHMS.join(", ")}`,
      },
    )
    .optional(),
  /** The client-credentials grant for this service's own calls to others (all three, or none). */
  AUTH_TOKEN_URL: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  AUTH_CLIENT_ID: z.string().min(1).optional(),
  AUTH_CLIENT_SECRET: z.string().min(1).optional(),
  AUTH_CLOCK_TOLERANCE_S: z.coerce
    .number({ error: "must be a whole number of seconds" })
    .int({ error: "must be a whole number of seconds" })
    .min(0, { error: "must be between 0 and 300" })
    .max(300, { error: "must be between 0 and 300" })
    .default(30),
});

/** Auth settings for a service; the fields match `createTokenVerifier`'s options. */
export type AuthConfig = {
  issuer: string;
  audience: string;
  jwksUrl?: string;
  devSecret?: string;
  clockToleranceSeconds: number;
  /** Pinned key-set algorithms (createTokenVerifier's default when unset: RS256, ES256, EdDSA). */
  algorithms?: string[];
  /** Set when AUTH_TOKEN_URL, AUTH_CLIENT_ID and AUTH_CLIENT_SECRET are: calls to other services use its tokens. */
  client?: ClientCredentials;
  /** NODE_ENV is "production": dev secrets are refused. */
  production: boolean;
};

const CLIENT_VARS = ["AUTH_TOKEN_URL", "AUTH_CLIENT_ID", "AUTH_CLIENT_SECRET"] as const;

function clientProblems(env: Record<string, string>): string[] {
  const set = CLIENT_VARS.filter((name) => env[name] !== undefined);
  if (set.length === 0 || set.length === CLIENT_VARS.length) return [];
  const missing = CLIENT_VARS.filter((name) => env[name] === undefined);
  return missing.map((name) => `${name}: is required with ${set.join(", ")} (the client-credentials grant)`);
}

function productionProblems(production: boolean, env: Record<string, string>): string[] {
  if (!production) return [];
  const problems: string[] = [];
  if (env.AUTH_DEV_SECRET !== undefined) {
    problems.push(
      "AUTH_DEV_SECRET: is refused when NODE_ENV=production (dev tokens are forgeable); unset it",
    );
  }
  if (env.AUTH_JWKS_URL === undefined) {
    problems.push("AUTH_JWKS_URL: is required when NODE_ENV=production");
  }
  return problems;
}

/**
 * Reads and validates auth settings from an env object; throws one ConfigError listing every bad variable.
 *
 * @example
 * const verifier = createTokenVerifier(readAuthConfig({ AUTH_JWKS_URL: "https://id.example/jwks.json" }));
 */
export function readAuthConfig(env: Record<string, string | undefined>): AuthConfig {
  // Compose files often pass unset variables as empty strings: the one stripper every config reader uses.
  const present = withoutEmptyValues(env);
  const production = present.NODE_ENV === "production";
  const parsed = AuthEnvSchema.safeParse(present);
  const problems = [
    ...(parsed.success
      ? []
      : parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`)),
    ...productionProblems(production, present),
    ...clientProblems(present),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const vars = parsed.data;
  return {
    issuer: vars.AUTH_ISSUER,
    audience: vars.AUTH_AUDIENCE,
    ...(vars.AUTH_JWKS_URL ? { jwksUrl: vars.AUTH_JWKS_URL } : {}),
    ...(vars.AUTH_DEV_SECRET ? { devSecret: vars.AUTH_DEV_SECRET } : {}),
    clockToleranceSeconds: vars.AUTH_CLOCK_TOLERANCE_S,
    // Production pins the one algorithm identity signs with unless told otherwise.
    ...(vars.AUTH_ALGORITHMS || production ? { algorithms: vars.AUTH_ALGORITHMS ?? ["EdDSA"] } : {}),
    ...(vars.AUTH_TOKEN_URL && vars.AUTH_CLIENT_ID && vars.AUTH_CLIENT_SECRET
      ? {
          client: {
            tokenUrl: vars.AUTH_TOKEN_URL,
            clientId: vars.AUTH_CLIENT_ID,
            clientSecret: vars.AUTH_CLIENT_SECRET,
          },
        }
      : {}),
    production,
  };
}

/**
 * The process environment as a dev script (`seed`, `token`, `events`, `gate`, `promote`) sees it: the dev
 * default secret outside production ({@link withDevAuthDefaults}). For script entry points only.
 *
 * @example
 * const config = loadConfig(devScriptEnv()); // a service's config loader, from a plain terminal
 */
export function devScriptEnv(): Record<string, string | undefined> {
  return withDevAuthDefaults<Record<string, string | undefined>>(process.env).env;
}

/** Auth settings for a dev script (`bun run token`, …): {@link devScriptEnv}, read by readAuthConfig. */
export function loadAuthConfigFromProcess(): AuthConfig {
  return readAuthConfig(devScriptEnv());
}

/**
 * The HS256 secret for dev tokens: AUTH_DEV_SECRET, else DEV_SECRET_DEFAULT. Throws in production.
 *
 * @example
 * const verifier = createTokenVerifier({ ...config, devSecret: resolveDevSecret(config) });
 */
export function resolveDevSecret(config: AuthConfig): string {
  if (config.production)
    throw new ConfigError(["AUTH_DEV_SECRET: dev secrets are refused when NODE_ENV=production"]);
  return config.devSecret ?? DEV_SECRET_DEFAULT; // the same default withDevAuthDefaults supplies
}

/**
 * Auth settings for a service that verifies tokens: like readAuthConfig, and one key source is required.
 *
 * @example
 * const verifier = createTokenVerifier(readServiceAuthConfig(env));
 */
export function readServiceAuthConfig(env: Record<string, string | undefined>): AuthConfig {
  const config = readAuthConfig(env);
  if (!config.jwksUrl && !config.devSecret) {
    throw new ConfigError(["AUTH_JWKS_URL or AUTH_DEV_SECRET: one is required to verify tokens"]);
  }
  return config;
}
