/**
 * Throwaway Postgres databases for benchmarks: `fig_bench_<what>_<random>` on the server at
 * BENCH_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres).
 * Every database made here is remembered so `dropAll()` can remove it, also after a failure.
 */
// postgres.js is a dependency of packages/testing, not of the root, so import it from there.
import postgres from "../../packages/testing/node_modules/postgres";

export const adminUrl =
  process.env.BENCH_DATABASE_URL ??
  process.env.TEST_DATABASE_URL ??
  "postgres://postgres@127.0.0.1:5432/postgres";

const created = new Set<string>();
let admin: ReturnType<typeof postgres> | undefined;

function connection() {
  admin ??= postgres(adminUrl, { max: 1, connect_timeout: 5, onnotice: () => {} });
  return admin;
}

/** Creates an empty database and returns its URL (migrations are left to the service). */
export async function createBenchDatabase(what: string): Promise<{ name: string; url: string }> {
  const name = `fig_bench_${what.replace(/\W/g, "_")}_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
  await connection().unsafe(`create database "${name}"`);
  created.add(name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { name, url: url.toString() };
}

export async function dropBenchDatabase(name: string): Promise<void> {
  await connection().unsafe(`drop database if exists "${name}" with (force)`);
  created.delete(name);
}

export async function serverVersion(): Promise<string> {
  const [row] = await connection()<{ server_version: string }[]>`show server_version`;
  return row?.server_version ?? "?";
}

/** Process ids of the server backends connected to `database` right now (same machine only). */
export async function backendPids(database: string): Promise<number[]> {
  const rows = await connection()<
    { pid: number }[]
  >`select pid from pg_stat_activity where datname = ${database}`;
  return rows.map((r) => r.pid);
}

/** Drops every database this process created (and closes the admin connection). Never throws. */
export async function dropAll(): Promise<string[]> {
  const problems: string[] = [];
  for (const name of [...created]) {
    try {
      await dropBenchDatabase(name);
    } catch (error) {
      problems.push(`could not drop database ${name}: ${(error as Error).message}`);
    }
  }
  await admin?.end({ timeout: 2 }).catch(() => {});
  admin = undefined;
  return problems;
}
