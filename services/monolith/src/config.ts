import { join } from "node:path";
import { type AuthConfig, readServiceAuthConfig } from "@fig/auth";
import { databaseConfigShape } from "@fig/db";
import { natsConfigShape } from "@fig/events";
import { baseConfigShape, combineConfig, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";

const ServiceEnv = z.object({
  ...baseConfigShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(8081),
  ...databaseConfigShape,
  ...natsConfigShape,
  /** Uploads above this many bytes are refused with 413. The legacy app holds files in memory and in Postgres. */
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(50 * 1024 * 1024),
  /** reference-data's seed CSVs, loaded into the monolith's empty reference tables at start (same data). */
  REFERENCE_SEED_DIR: z.string().default(join(import.meta.dir, "..", "..", "reference-data", "seed")),
});

export type Config = z.infer<typeof ServiceEnv> & { auth: AuthConfig };

/** The only place the monolith reads the environment. Every bad variable is reported at once. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const cleaned = withoutEmptyValues(env);
  const { service, auth } = combineConfig({
    service: () => parseConfig(ServiceEnv, cleaned),
    auth: () => readServiceAuthConfig(cleaned),
  });
  return { ...service, auth };
}
