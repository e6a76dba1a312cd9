import { join } from "node:path";
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
  /** The live sync re-reads a table from the monolith's API when an event does not carry the rows. */
  MONOLITH_URL: z.url().default("http://127.0.0.1:8081"),
  /** The gateway route whose write owner switches the live sync on (owner monolith) and off. */
  SYNC_ROUTE: z.string().min(1).default("reference-data"),
  /** The route file, whose route SYNC_ROUTE declares the synced tables (`fig.data`); the repository's by default. */
  FIG_ROUTES_FILE: z.string().default(join(import.meta.dir, "..", "..", "..", "..", "fig.yaml")),
  /** Bearer token (role viewer) for those re-reads; without it one is minted with AUTH_DEV_SECRET. */
  SYNC_TOKEN: z.string().optional(),
  /** GET of one record from this replica's memory, dropped by reference.changed; `off` reads the database. */
  READ_CACHE: z.enum(["on", "off"]).default("on"),
  /** Longest a cached record lives (s), for changes no event announced (backfills, hand-made SQL). */
  READ_CACHE_TTL_CODES_S: z.coerce.number().int().min(0).default(3600),
  READ_CACHE_TTL_CONTEXTS_S: z.coerce.number().int().min(0).default(3600),
  READ_CACHE_TTL_ESTABLISHMENTS_S: z.coerce.number().int().min(0).default(3600),
  READ_CACHE_TTL_RULES_S: z.coerce.number().int().min(0).default(86_400),
  READ_CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).default(50_000),
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
