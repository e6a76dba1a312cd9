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
  /** After the write-ownership flip the reverse sync re-reads a table from reference-data when an event has no rows. */
  REFERENCE_DATA_URL: z.url().default("http://127.0.0.1:8082"),
  /** The gateway route whose write owner switches the reverse sync on (owner reference-data) and off. */
  SYNC_ROUTE: z.string().min(1).default("reference-data"),
  /** The route file, whose route SYNC_ROUTE declares the synced tables (`fig.data`); the repository's by default. */
  FIG_ROUTES_FILE: z.string().default(join(import.meta.dir, "..", "..", "..", "..", "fig.yaml")),
  /** Bearer token (role viewer) for those re-reads; without it one is minted with AUTH_DEV_SECRET. */
  SYNC_TOKEN: z.string().optional(),
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
