import { existsSync } from "node:fs";
import { join } from "node:path";
import { writeDevDatabases } from "../../packages/db/src/dev-databases.ts";
import {
  describePostgresUrl,
  type EmbeddedDatabase,
  prepareServiceDatabases,
  type ServiceDatabase,
  serveEmbeddedDatabases,
  serviceDatabaseName,
} from "./databases.ts";
import type { DevService } from "./discover.ts";
import { err, fail, out, s } from "./terminal.ts";

/** One line for the summary: where the services' databases are. */
export function describeDatabases(databases: ServiceDatabase[] | null): string {
  if (!databases) return "embedded Postgres (PGlite) under .data/";
  const server = databases[0] ? new URL(databases[0].url).host : "?";
  return `Postgres at ${server}, a database per service`;
}

/** DATABASE_URL set: each service's own database on that server (created if missing); null: embedded. */
async function planDatabases(services: DevService[]): Promise<ServiceDatabase[] | null> {
  const url = process.env.DATABASE_URL?.trim();
  if (!url) return null;
  try {
    return await prepareServiceDatabases(
      url,
      services.map((svc) => svc.name),
    );
  } catch (error) {
    fail(
      `DATABASE_URL ${describePostgresUrl(url)}: cannot prepare a database per service: ${(error as Error).message}\n` +
        "  The role needs CREATEDB (or create the databases yourself: " +
        `${services.map((svc) => serviceDatabaseName(svc.name)).join(", ")}); unset DATABASE_URL for embedded PGlite.`,
    );
  }
}

export type DevDatabases = {
  /** The server's databases (DATABASE_URL set), or null: embedded. */
  databases: ServiceDatabase[] | null;
  /** The embedded databases this runner serves (closed when it stops), or null. */
  embedded: { databases: EmbeddedDatabase[]; close(): Promise<void> } | null;
  /** Service name → its DATABASE_URL. */
  urls: Map<string, string>;
};

/**
 * A database for each service with migrations (the gateway has none): on DATABASE_URL's server, or embedded
 * PGlite served on a port, so services and tools share one code path. Prints each and writes them down in
 * .data/dev-databases.json, where migrate-data (and anyone else) finds them with nothing set.
 */
export async function openDatabases(root: string, services: DevService[]): Promise<DevDatabases> {
  const withDatabase = services.filter((svc) => existsSync(join(svc.dir, "drizzle")));
  const databases = await planDatabases(withDatabase);
  const embedded = databases
    ? null
    : await serveEmbeddedDatabases(root, withDatabase, { templateDir: process.env.FIG_PGLITE_TEMPLATE_DIR });
  const urls = new Map<string, string>(
    [...(databases ?? embedded?.databases ?? [])].map((db) => [db.service, db.url]),
  );
  const width = Math.max(...services.map((svc) => svc.name.length));
  if (embedded) {
    out(`  database  ${describeDatabases(null)}, each served over the Postgres wire protocol:`);
    const t0 = Date.now();
    void Promise.all(embedded.databases.map((db) => db.ready)).then(
      () => out(s.dim(`  (embedded databases open after ${((Date.now() - t0) / 1000).toFixed(1)} s)`)),
      (error) => err(`${s.red("✗")} an embedded database did not open: ${(error as Error).message}`),
    );
  }
  for (const db of embedded?.databases ?? []) {
    out(
      `            ${db.service.padEnd(width)} → ${db.url} ${s.dim(db.wantedPort ? `(${db.wantedPort} was taken)` : `(${db.path})`)}`,
    );
  }
  writeDevDatabases(join(root, ".data"), {
    pid: process.pid,
    kind: embedded ? "embedded" : "server",
    databases: Object.fromEntries(urls),
  });
  for (const [i, db] of (databases ?? []).entries()) {
    out(
      `  ${i === 0 ? "database " : "         "} ${db.service.padEnd(width)} → ${describePostgresUrl(db.url)} ${s.dim(db.created ? "(created)" : "(exists)")}`,
    );
  }
  return { databases, embedded, urls };
}
