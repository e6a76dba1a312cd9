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
