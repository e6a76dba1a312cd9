import { existsSync } from "node:fs";
import { join } from "node:path";
import { openPglite, type PGlite } from "../../packages/db/src/embedded.ts";
import { serveOverWire, type WireServer } from "../../packages/db/src/wire-server.ts";

/** A service's own database on the server DATABASE_URL points at, and the URL the service is given. */
export interface ServiceDatabase {
  service: string;
  database: string;
  url: string;
  /** This call created it (false: it was there already). */
  created: boolean;
}

/**
 * The database a service gets: its name with every character but `[a-z0-9_]` as `_`, as compose.yaml names
 * them (`reference-data` → `reference_data`). `prefix` keeps tests apart from real dev databases.
 */
export function serviceDatabaseName(service: string, prefix = ""): string {
  return `${prefix}${service.toLowerCase().replace(/[^a-z0-9_]/g, "_")}`;
}

/** `url` with its database replaced by `database`; user, password, host and options kept. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** `postgres://host:port/db`, never the credentials. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "(unparseable URL)";
  }
}

// SQLSTATE 42P04 duplicate_database; 23505 when another session's CREATE DATABASE commits first.
const ALREADY_THERE = new Set(["42P04", "23505"]);

/**
 * Database per service on one Postgres server: for each service, derives its database
 * ({@link serviceDatabaseName}), creates it if missing and returns the URL to hand the service. The database
 * named in `serverUrl` is only connected to. Safe against a concurrent runner creating the same database.
 *
 * @example
 * const dbs = await prepareServiceDatabases("postgres://postgres@127.0.0.1:5432/postgres", ["validation"]);
 * // → [{ service: "validation", database: "validation", url: "postgres://postgres@127.0.0.1:5432/validation", created: true }]
 */
export async function prepareServiceDatabases(
  serverUrl: string,
  services: readonly string[],
  { prefix = "" }: { prefix?: string } = {},
): Promise<ServiceDatabase[]> {
  // Bun's built-in Postgres client: the runner lives outside the workspaces that depend on `postgres`.
  const sql = new Bun.SQL(serverUrl, { max: 1, connectionTimeout: 15 });
  try {
    const out: ServiceDatabase[] = [];
    for (const service of services) {
      const database = serviceDatabaseName(service, prefix);
      const [exists] = await sql`select 1 from pg_database where datname = ${database}`;
      let created = false;
      if (!exists) {
        try {
          // A name from serviceDatabaseName is [a-z0-9_] only, so quoting it is enough.
          await sql.unsafe(`create database "${database}"`);
          created = true;
        } catch (error) {
          if (!ALREADY_THERE.has(String((error as { errno?: unknown }).errno))) throw error;
        }
      }
      out.push({ service, database, url: withDatabase(serverUrl, database), created });
    }
    return out;
  } finally {
    await sql.close();
  }
}

/** A service's embedded database, served over the wire by the runner. */
export interface EmbeddedDatabase {
  service: string;
  url: string;
  /** The data directory (relative to the workspace root). */
  path: string;
  /** The port it would have liked, when that was taken and another was used. */
  wantedPort?: number;
  /** Resolves once the database is open (new ones start from the template cluster). */
  ready: Promise<unknown>;
}

/**
 * The port a service's embedded database gets: 5400 + the last two digits of the service's port
 * (monolith 8081 → 5481), so the URLs stay the same from one `bun run dev` to the next. 0: any free port.
 */
export function embeddedDatabasePort(servicePort: number): number {
  return servicePort > 8000 && servicePort < 8100 ? 5400 + (servicePort - 8000) : 0;
}

/**
 * DATABASE_URL unset: opens each service's PGlite database under `<root>/<dataDir>/<service>/pg` in this
 * process and serves it on 127.0.0.1 over the Postgres wire protocol. The services, migrate-data, psql and
 * drizzle-kit then all reach it at a postgres:// URL, the same code path as a Postgres server. The ports listen
 * at once; the databases open together (one PGlite compile for all, new ones copied meanwhile), and early
 * clients wait. With `dir`, a new database starts with the migrations of `<dir>/drizzle` applied.
 */
export async function serveEmbeddedDatabases(
  root: string,
  services: readonly { name: string; port: number; dir?: string }[],
  { dataDir = ".data", templateDir }: { dataDir?: string; templateDir?: string | null } = {},
): Promise<{ databases: EmbeddedDatabase[]; close(): Promise<void> }> {
  const servers: WireServer[] = [];
  const opened: Promise<PGlite>[] = [];
  const databases: EmbeddedDatabase[] = [];
  try {
    for (const svc of services) {
      const path = join(dataDir, svc.name, "pg");
      // A new database copies a template its service's migrations were applied to: the service finds none to run.
      const migrations = svc.dir ? join(svc.dir, "drizzle") : undefined;
      const open = openPglite(join(root, path), {
        ...(templateDir === undefined ? {} : { templateDir }),
        ...(migrations && existsSync(migrations) ? { migrationsFolder: migrations } : {}),
      });
      opened.push(open);
      const wanted = embeddedDatabasePort(svc.port);
      const server = await serveOverWire(open, { port: wanted }).catch((error) => {
        if (wanted === 0 || (error as NodeJS.ErrnoException).code !== "EADDRINUSE") throw error;
        return serveOverWire(open, { port: 0 });
      });
      servers.push(server);
      databases.push({
        service: svc.name,
        url: server.url,
        path,
        ready: open,
        ...(server.port !== wanted && wanted !== 0 ? { wantedPort: wanted } : {}),
      });
    }
  } catch (error) {
    await closeAll(servers, opened);
    throw error;
  }
  return { databases, close: () => closeAll(servers, opened) };
}

async function closeAll(servers: WireServer[], opened: Promise<PGlite>[]): Promise<void> {
  await Promise.allSettled(servers.map((server) => server.close()));
  await Promise.allSettled(opened.map(async (db) => (await db).close()));
}
