import { type AuthConfig, readServiceAuthConfig } from "@fig/auth";
import { databaseConfigShape } from "@fig/db";
import { natsConfigShape } from "@fig/events";
import { baseConfigShape, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const ServiceEnv = z.object({
  ...baseConfigShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(8082),
  ...databaseConfigShape,
  ...natsConfigShape,
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
