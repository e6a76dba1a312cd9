import { z } from "zod";

/** Settings every service reads; a service's config.ts extends this shape. */
export const baseConfigShape = {
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  HOST: z.string().default("0.0.0.0"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  LOG_PRETTY: z.stringbool().default(false),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Fault injection for proving load gates (`/_fig/faults`, operators only): off unless set to 1/true. */
  FIG_FAULTS: z.stringbool().default(false),
  /** With FIG_FAULTS: the share of /api requests answered 500 at start (0..1). */
  FIG_FAULT_ERROR_RATE: z.coerce.number().min(0).max(1).default(0),
  /** With FIG_FAULTS: extra latency before every /api request at start. */
  FIG_FAULT_LATENCY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  /** The tenant whose role `operator` is Fig's control plane (here: `/_fig/faults`), as at the gateway. */
  FIG_OPERATOR_TENANT: z.string().min(1).default("platform"),
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Parses an environment once, reporting every bad variable at once rather than the first.
 *
 * @example
 * export const config = parseConfig(z.object({ ...baseConfigShape, PORT: z.coerce.number() }), process.env);
 */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => `${issue.path.join(".") || "(env)"}: ${issue.message}`),
  );
}

/**
 * Environment without empty values: compose files and shells pass unset variables as "" (or blanks).
 * The one empty-value stripper: every config reader (services, auth, CLIs) goes through it.
 */
export function withoutEmptyValues(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1].trim() !== ""),
  );
}

/**
 * Runs several config readers and reports the problems of all of them in one ConfigError, so a
 * misconfigured service lists every bad variable at once. Readers throw ConfigError (the one config error
 * style); anything else is a bug and propagates as it is.
 *
 * @example
 * const { service, auth } = combineConfig({ service: () => parseConfig(Env, env), auth: () => readServiceAuthConfig(env) });
 */
export function combineConfig<R extends Record<string, () => unknown>>(
  readers: R,
): { [K in keyof R]: ReturnType<R[K]> } {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, read] of Object.entries(readers)) {
    try {
      out[key] = read();
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as { [K in keyof R]: ReturnType<R[K]> };
}

/**
 * For main.ts: runs the service's config loader; on a ConfigError prints every problem, prefixed with the
 * service name, and exits 1 (no stack trace).
 */
export function loadConfigOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`${service}: ${error.message}`);
    process.exit(1);
  }
}
