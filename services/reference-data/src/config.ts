import { type AuthConfig, readServiceAuthConfig } from "@fig/auth";
import { baseConfigShape, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const ServiceEnv = z.object({
  ...baseConfigShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(8082),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATA_DIR: z.string().default(".data"),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  /** Prefix of every NATS subject and stream, so parallel deployments and test runs never collide. */
  FIG_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, - and _")
    .default("fig"),
  /** `bun run seed` imports through this running service when it answers, else straight into the database. */
  SEED_URL: z.url().default("http://127.0.0.1:8082"),
});

export type Config = z.infer<typeof ServiceEnv> & { auth: AuthConfig };

/**
 * The only place reference-data reads the environment. Every bad variable is reported at once.
 * An empty DATABASE_URL means embedded PGlite (compose files pass unset variables as "").
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = withoutEmptyValues(env);
  const { service, auth } = combineConfig({
    service: () => parseConfig(ServiceEnv, cleaned),
    auth: () => readServiceAuthConfig(cleaned),
  });
  return { ...service, auth };
}
