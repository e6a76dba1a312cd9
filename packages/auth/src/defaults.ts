// Plain constants with no imports, so scripts (e.g. scripts/dev.ts) can import them without side effects.

/** The issuer dev tokens carry and services expect unless AUTH_ISSUER says otherwise. */
export const DEFAULT_ISSUER = "fig-dev";

/** The audience dev tokens carry and services expect unless AUTH_AUDIENCE says otherwise. */
export const DEFAULT_AUDIENCE = "fig";

/**
 * The HS256 secret `bun run dev` and `bun run token` share when AUTH_DEV_SECRET is unset outside production.
 * It is public, so a token signed with it proves nothing; production refuses dev secrets altogether.
 */
export const DEV_SECRET_DEFAULT = "fig-dev-secret-change-me-0123456789abcdef";

/** RFC 7518 §3.2: an HS256 key must be at least as long as the hash output. */
export const MIN_DEV_SECRET_BYTES = 32;

/**
 * The environment a dev script (`seed`, `token`, `events`, `gate`, `promote`) runs with, and the one
 * `bun run dev` gives its services: outside production an unset AUTH_DEV_SECRET becomes DEV_SECRET_DEFAULT,
 * so those scripts work from a plain terminal with no variables set. In production nothing is added (and
 * dev secrets are refused there). Services themselves never default: they start only with a key source.
 *
 * @example
 * const { env, defaulted } = withDevAuthDefaults(process.env);
 * const config = readAuthConfig(env);
 */
export function withDevAuthDefaults<E extends Record<string, string | undefined>>(
  env: E,
): { env: E & { AUTH_DEV_SECRET?: string }; defaulted: boolean } {
  if (env.NODE_ENV === "production" || (env.AUTH_DEV_SECRET ?? "").trim() !== "") {
    return { env, defaulted: false };
  }
  return { env: { ...env, AUTH_DEV_SECRET: DEV_SECRET_DEFAULT }, defaulted: true };
}
