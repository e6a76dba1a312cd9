import { join } from "node:path";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { drizzle as drizzlePglite } from "drizzle-orm/pglite";
import { migrate as migratePglite } from "drizzle-orm/pglite/migrator";
import { drizzle as drizzlePostgres } from "drizzle-orm/postgres-js";
import { migrate as migratePostgres } from "drizzle-orm/postgres-js/migrator";
import type { Logger } from "pino";
import postgres from "postgres";
import { openPglite } from "./embedded.ts";

/** Drizzle over either driver: services write queries once against this type. */
export type Database = PgDatabase<PgQueryResultHKT>;

export type DatabaseOptions = {
  /** The service's name: names the embedded data directory and the migration lock. */
  service: string;
  /** postgres:// URL; when absent the database is embedded (PGlite). */
  url?: string | undefined;
  /** Root of embedded data directories (default `.data`); `memory://` keeps it in memory. */
  dataDir?: string;
  poolMax?: number;
  statementTimeoutMs?: number;
  logger?: Pick<Logger, "info" | "warn">;
};

export type DatabaseHandle = {
  db: Database;
  kind: "postgres" | "pglite";
  /** Readiness: one round trip. */
  ping(): Promise<void>;
  /** LISTEN on a channel; resolves to an unlisten function. Notifications are hints (they can be missed). */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** Applies drizzle-kit migrations from `folder`, serialized across replicas by an advisory lock. */
  migrate(folder: string): Promise<void>;
  close(): Promise<void>;
};

/**
 * Drizzle over postgres.js when `url` is set, otherwise over PGlite under `<dataDir>/<service>`.
 *
 * @example
 * const database = await createDatabase({ service: "reference-data", url: config.DATABASE_URL, logger });
 * await database.migrate(new URL("../drizzle", import.meta.url).pathname);
 */
export async function createDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  return options.url ? connectPostgres(options, options.url) : openEmbedded(options);
}

function connectPostgres(
  { service, poolMax = 10, statementTimeoutMs = 5000, logger }: DatabaseOptions,
  url: string,
): DatabaseHandle {
  const client = postgres(url, {
    max: poolMax,
    onnotice: () => {},
    connection: { application_name: service, statement_timeout: statementTimeoutMs },
  });
  const db = drizzlePostgres(preparingAll(client)) as unknown as Database;
  logger?.info({ database: redact(url), poolMax }, "database: postgres");
  return {
    db,
    kind: "postgres",
    async ping() {
      await client`select 1`;
    },
    async migrate(folder) {
      // drizzle's migrator takes no lock: two replicas starting together would race on the same DDL.
      const lock = await client.reserve();
      try {
        await lock`select pg_advisory_lock(hashtext(${`fig:migrate:${service}`}))`;
        await migratePostgres(drizzlePostgres(client), { migrationsFolder: folder });
      } finally {
        await lock`select pg_advisory_unlock(hashtext(${`fig:migrate:${service}`}))`.catch(() => {});
        lock.release();
      }
    },
    async listen(channel, onNotify) {
      const { unlisten } = await client.listen(channel, (payload) => onNotify(payload));
      return unlisten;
    },
    async close() {
      await client.end({ timeout: 5 });
    },
  };
}

async function openEmbedded({
  service,
  dataDir = ".data",
  statementTimeoutMs = 5000,
  logger,
}: DatabaseOptions) {
  const inMemory = dataDir === "memory://";
  const path = inMemory ? undefined : join(dataDir, service, "pg");
  const client = await openPglite(path);
  await client.exec(`set statement_timeout = ${Math.trunc(statementTimeoutMs)}`);
  logger?.warn(
    { path: path ?? "memory" },
    "database: EMBEDDED PGlite (set DATABASE_URL to use a Postgres server); one process per data directory",
  );
  const db = drizzlePglite(client) as unknown as Database;
  const handle: DatabaseHandle = {
    db,
    kind: "pglite",
    async ping() {
      await db.execute(sql`select 1`);
    },
    async migrate(folder) {
      // PGlite is single-connection and single-process: nobody to race with.
      await migratePglite(drizzlePglite(client), { migrationsFolder: folder });
    },
    async listen(channel, onNotify) {
      const unlisten = await client.listen(channel, (payload) => onNotify(payload));
      return async () => unlisten();
    },
    async close() {
      await client.close();
    },
  };
  return handle;
}

/**
 * drizzle's postgres-js driver runs every query that was not `.prepare()`d with `prepare: false`: Postgres then
 * parses and plans each statement again, and postgres.js needs an extra round trip for it. drizzle's SQL text
 * is the same for the same query shape, so preparing everything keeps a small, bounded set of statements per
 * connection and removes that cost from every query (transactions included).
 */
function preparingAll(sql: postgres.Sql): postgres.Sql {
  const unsafe = (query: string, params?: unknown[], options?: { prepare?: boolean }) =>
    sql.unsafe(query, params as never, { ...options, prepare: true });
  const wrapTransaction =
    (method: "begin" | "savepoint") =>
    (...args: unknown[]) => {
      const callback = args.at(-1) as (inner: postgres.Sql) => unknown;
      const run = Reflect.get(sql, method) as (...a: unknown[]) => unknown;
      return run.apply(sql, [...args.slice(0, -1), (inner: postgres.Sql) => callback(preparingAll(inner))]);
    };
  const overrides: Record<string | symbol, unknown> = {
    unsafe,
    begin: wrapTransaction("begin"),
    savepoint: wrapTransaction("savepoint"),
  };
  const bound = new Map<string | symbol, unknown>();
  return new Proxy(sql, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop];
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      let fn = bound.get(prop);
      if (!fn) {
        fn = value.bind(target);
        bound.set(prop, fn);
      }
      return fn;
    },
  });
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable url)";
  }
}

/**
 * Opens the service's database and applies its migrations: what every main.ts does at start.
 * Throws with the step that failed in the message.
 */
export async function openMigratedDatabase(
  options: DatabaseOptions & { migrationsFolder: string },
): Promise<DatabaseHandle> {
  const database = await createDatabase(options).catch((error) => {
    throw new Error(`cannot open the database: ${(error as Error).message}`, { cause: error });
  });
  try {
    await database.migrate(options.migrationsFolder);
  } catch (error) {
    await database.close().catch(() => {});
    throw new Error(`migrations failed: ${(error as Error).message}`, { cause: error });
  }
  return database;
}

/** The rows of a `db.execute(sql…)` result: postgres.js returns an array, PGlite an object with `rows`. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}
