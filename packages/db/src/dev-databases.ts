import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * What `bun run dev` tells the tools beside it (migrate-data, psql users): each service's database URL.
 * Lives under the data directory, where the databases themselves are, and only while the runner runs.
 */
export const DEV_DATABASES_FILE = "dev-databases.json";

export type DevDatabases = {
  /** The runner's pid: a file whose process is gone is stale. */
  pid: number;
  /** "embedded": PGlite served over the wire by the runner; "server": a database each on DATABASE_URL's server. */
  kind: "embedded" | "server";
  /** Service name → postgres:// URL. */
  databases: Record<string, string>;
};

export function devDatabasesPath(dataDir: string): string {
  return join(dataDir, DEV_DATABASES_FILE);
}

export function writeDevDatabases(dataDir: string, record: DevDatabases): string {
  const path = devDatabasesPath(dataDir);
  writeFileSync(`${path}.partial`, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(`${path}.partial`, path);
  return path;
}

/** The record `bun run dev` left under `dataDir`, or null when there is none or its runner is gone. */
export function readDevDatabases(dataDir: string): (DevDatabases & { path: string }) | null {
  const path = devDatabasesPath(dataDir);
  if (!existsSync(path)) return null;
  let record: DevDatabases;
  try {
    record = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return null;
  }
  if (!record || typeof record.databases !== "object" || !alive(record.pid)) return null;
  return { ...record, path };
}

/** Removes the record, only if `pid` wrote it (a second runner's record stays). */
export function removeDevDatabases(dataDir: string, pid: number): void {
  const path = devDatabasesPath(dataDir);
  try {
    if (JSON.parse(readFileSync(path, "utf8")).pid === pid) rmSync(path, { force: true });
  } catch {}
}

function alive(pid: unknown): boolean {
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
