import { relative } from "node:path";
import { createDatabase, type DatabaseHandle } from "@fig/db";
import postgres from "postgres";
import { testConfig } from "./config.ts";

export type TestDatabase = DatabaseHandle & {
  /**
   * Which database the file got: "postgres" (one of its own on the real server) or "pglite" (the in-memory
   * fallback, only outside CI and only when nothing listens at TEST_DATABASE_URL). Inherited from DatabaseHandle.
   */
  kind: DatabaseHandle["kind"];
  /** The URL of the database made for this test file (undefined on the PGlite fallback). */
  url: string | undefined;
  /** Closes the connection and drops the database this helper created, and only that one. */
  drop(): Promise<void>;
};

export type TestDatabaseOptions = {
  service: string;
  /** drizzle-kit migrations to apply; omit for an empty database (tests of migrating itself). */
  migrationsFolder?: string;
  adminUrl?: string;
  /**
   * Why this file cannot run on the in-memory PGlite fallback (a child process on the same database, row
   * locks across connections...). When set, a missing server fails the file even outside CI.
   */
  requiresServer?: string;
  /** Defaults to CI=true from the environment; tests of this helper pass it explicitly. */
  ci?: boolean;
};

/** The test file being run, relative to the working directory (bun test sets Bun.main to it). */
function currentFile(): string {
  return relative(process.cwd(), Bun.main) || Bun.main;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}

/**
 * The PGlite fallback is taken only when nothing listens (ECONNREFUSED): a wrong role, "too many clients" or a
 * slow connect is a broken server, and hiding it behind another database would test the wrong thing. Under CI
 * it is never taken. Returns why the fallback is refused, or undefined when it is allowed.
 */
export function fallbackRefusal(
  error: unknown,
  { ci, requiresServer }: { ci: boolean; requiresServer?: string | undefined },
): string | undefined {
  const code = (error as { code?: unknown })?.code;
  if (code !== "ECONNREFUSED")
    return `the server did not refuse the connection, it failed (${String(code ?? "no code")}); only "nothing listens" (ECONNREFUSED) falls back`;
  if (ci) return "CI=true refuses the in-memory PGlite fallback";
  if (requiresServer) return `this file needs a real server: ${requiresServer}`;
  return undefined;
}

/**
 * A fresh, migrated, real Postgres database for one test file: `fig_test_<service>_<random>` on the server
 * at TEST_DATABASE_URL, dropped by `drop()`. Outside CI, when nothing listens there, falls back to in-memory
 * PGlite and says so for each file; under CI=true (or with `requiresServer`) it fails loudly instead, and any
 * other connection error always fails. `kind` tells which one the file got.
 *
 * @example
 * let tdb: TestDatabase;
 * beforeAll(async () => { tdb = await createTestDatabase({ service: "reference-data", migrationsFolder }) });
 * afterAll(() => tdb.drop());
 */
export async function createTestDatabase({
  service,
  migrationsFolder,
  adminUrl = testConfig.databaseUrl,
  requiresServer,
  ci = testConfig.ci,
}: TestDatabaseOptions): Promise<TestDatabase> {
  // A generous connect timeout: a slow machine must not be mistaken for a missing server (nor fall back).
  const admin = postgres(adminUrl, { max: 1, connect_timeout: 15, onnotice: () => {} });
  try {
    await admin`select 1`;
  } catch (error) {
    await admin.end({ timeout: 1 }).catch(() => {});
    const file = currentFile();
    const reason = `${(error as Error).message}`;
    const refusal = fallbackRefusal(error, { ci, requiresServer });
    if (refusal !== undefined) {
      throw new Error(
        `[testing] ${file}: cannot use Postgres at ${redact(adminUrl)} (${reason}); ${refusal}. ` +
          "Start Postgres on 127.0.0.1:5432 or set TEST_DATABASE_URL.",
        { cause: error },
      );
    }
    console.warn(
      `[testing] ${file}: nothing listens at ${redact(adminUrl)} (${reason}); ` +
        "this file runs on in-memory PGlite, not Postgres (CI=true refuses this)",
    );
    const handle = await createDatabase({ service, dataDir: "memory://" });
    if (migrationsFolder !== undefined) await handle.migrate(migrationsFolder);
    return { ...handle, url: undefined, drop: () => handle.close() };
  }

  const name = `fig_test_${service.replace(/\W/g, "_")}_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = await createDatabase({ service, url: url.toString(), poolMax: 5 });
  try {
    if (migrationsFolder !== undefined) await handle.migrate(migrationsFolder);
  } catch (error) {
    await handle.close();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
    throw error;
  }
  return {
    ...handle,
    url: url.toString(),
    async drop() {
      await handle.close();
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}
