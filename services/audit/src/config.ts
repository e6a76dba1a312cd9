import { type AuthConfig, readServiceAuthConfig } from "@fig/auth";
import { databaseConfigShape } from "@fig/db";
import { natsConfigShape } from "@fig/events";
import { baseConfigShape, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const ServiceEnv = z.object({
  ...baseConfigShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(8085),
  ...databaseConfigShape,
  ...natsConfigShape,
  /** Whose `operator` tokens may read the log (the gateway's control plane has the same rule). */
  FIG_OPERATOR_TENANT: z.string().min(1).default("platform"),
});

export type Config = z.infer<typeof ServiceEnv> & { auth: AuthConfig };

/**
 * The only place audit reads the environment. Every bad variable is reported at once.
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
