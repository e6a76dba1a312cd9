import { readDevDatabases } from "@fig/db";

export type AuditCliConfig = {
  /** The audit service's database, and where the URL came from (for the report line). */
  databaseUrl: string | undefined;
  source: string;
};

/**
 * Where `bun run audit` finds the log: AUDIT_DATABASE_URL, else the database `bun run dev` serves the audit
 * service (DATA_DIR/dev-databases.json, as migrate-data reads it). The only place the CLI reads the environment.
 */
export function loadAuditCliConfig(env: Record<string, string | undefined> = process.env): AuditCliConfig {
  const explicit = env.AUDIT_DATABASE_URL?.trim();
  if (explicit) return { databaseUrl: explicit, source: "AUDIT_DATABASE_URL" };
  const dataDir = env.DATA_DIR?.trim() || ".data";
  const dev = readDevDatabases(dataDir)?.databases.audit;
  if (dev) return { databaseUrl: dev, source: `${dataDir}/dev-databases.json (bun run dev)` };
  return { databaseUrl: undefined, source: "none" };
}
