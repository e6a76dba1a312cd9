import { z } from "zod";

/** Database settings every service with a database reads (spread into its config schema). */
export const databaseConfigShape = {
  /** postgres:// URL; unset (or empty) means embedded PGlite under DATA_DIR. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  DATA_DIR: z.string().default(".data"),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
};

type DatabaseConfig = {
  DATABASE_URL?: string | undefined;
  DATA_DIR: string;
  DB_POOL_MAX: number;
  DB_STATEMENT_TIMEOUT_MS: number;
};

/** The createDatabase options those settings mean. */
export function databaseOptions(config: DatabaseConfig) {
  return {
    url: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolMax: config.DB_POOL_MAX,
    statementTimeoutMs: config.DB_STATEMENT_TIMEOUT_MS,
  };
}
