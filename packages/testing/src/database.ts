import { createDatabase, type DatabaseHandle } from "@fig/db";
import postgres from "postgres";
import { testConfig } from "./config.ts";

export type TestDatabase = DatabaseHandle & {
  /** The URL of the database made for this test file (undefined on the PGlite fallback). */
  url: string | undefined;
  /** Closes the connection and drops the database this helper created, and only that one. */
  drop(): Promise<void>;
};

let warnedFallback = false;

/**
 * A fresh, migrated, real Postgres database for one test file: `fig_test_<service>_<random>` on the server
 * at TEST_DATABASE_URL, dropped by `drop()`. Falls back to in-memory PGlite only when no server answers,
 * and says so.
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
}: {
  service: string;
  migrationsFolder: string;
  adminUrl?: string;
}): Promise<TestDatabase> {
  const admin = postgres(adminUrl, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await admin`select 1`;
  } catch (error) {
    await admin.end({ timeout: 1 }).catch(() => {});
    if (!warnedFallback) {
      console.warn(
        `[testing] no Postgres at ${adminUrl} (${(error as Error).message}); falling back to in-memory PGlite`,
      );
      warnedFallback = true;
    }
    const handle = await createDatabase({ service, dataDir: "memory://" });
    await handle.migrate(migrationsFolder);
    return { ...handle, url: undefined, drop: () => handle.close() };
  }

  const name = `fig_test_${service.replace(/\W/g, "_")}_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const handle = await createDatabase({ service, url: url.toString(), poolMax: 5 });
  try {
    await handle.migrate(migrationsFolder);
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
