import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { cp } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";

export type { PGlite };

/** Where a fresh PGlite cluster is kept for reuse: initdb costs seconds, copying its files a fraction of one. */
export const DEFAULT_TEMPLATE_DIR = join(homedir(), ".cache", "fig");

const pgliteVersion: string = JSON.parse(
  readFileSync(new URL("../package.json", import.meta.resolve("@electric-sql/pglite")), "utf8"),
).version;

let compiled: Promise<WebAssembly.Module> | undefined;

/** PGlite's Postgres, compiled once per process however many databases it opens (about 0.4 s each time). */
function pgliteModule(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(
    readFileSync(new URL("pglite.wasm", import.meta.resolve("@electric-sql/pglite"))),
  );
  return compiled;
}

export type OpenPgliteOptions = {
  /**
   * Folder holding the template cluster (`pglite-<version>-wal1m/`); null never reads nor writes one.
   * Default: ~/.cache/fig.
   */
  templateDir?: string | null;
};

/**
 * Opens (or creates) a PGlite database at `path` (undefined: in memory). A new database on disk starts as a
 * copy of a cluster initdb made once for this PGlite version, instead of running initdb again (about 9 s on
 * two busy cores, against a file copy); the first database made on a machine makes that template.
 *
 * @example
 * const db = await openPglite(".data/reference-data/pg");
 */
export async function openPglite(
  path: string | undefined,
  { templateDir = DEFAULT_TEMPLATE_DIR }: OpenPgliteOptions = {},
): Promise<PGlite> {
  const compiling = pgliteModule();
  if (path && !existsSync(join(path, "PG_VERSION")) && templateDir !== null) {
    // The copy runs on libuv's threads while the main thread compiles.
    const template = await templateCluster(join(templateDir, `pglite-${pgliteVersion}-wal1m`), compiling);
    if (template) await copyCluster(template, path);
  }
  const pgliteWasmModule = await compiling;
  if (path) mkdirSync(path, { recursive: true });
  const db = new PGlite({ dataDir: path, pgliteWasmModule });
  await db.waitReady;
  return db;
}

const making = new Map<string, Promise<string | null>>();

/** The template cluster's folder, made on first use; null when it cannot be (the caller runs initdb itself). */
function templateCluster(folder: string, compiling: Promise<WebAssembly.Module>): Promise<string | null> {
  if (existsSync(join(folder, "PG_VERSION"))) return Promise.resolve(folder);
  let made = making.get(folder);
  if (!made) {
    made = makeTemplate(folder, compiling).finally(() => making.delete(folder));
    making.set(folder, made);
  }
  return made;
}

async function makeTemplate(folder: string, compiling: Promise<WebAssembly.Module>): Promise<string | null> {
  // Made aside and renamed: a concurrent process sees the whole cluster or none.
  const partial = `${folder}.${process.pid}.partial`;
  try {
    mkdirSync(partial, { recursive: true });
    // 1 MB WAL segments instead of 16: the template (and every copy of it) is 24 MB instead of 39.
    const db = new PGlite({
      dataDir: partial,
      pgliteWasmModule: await compiling,
      initDbStartParams: ["--wal-segsize=1"],
    });
    await db.waitReady;
    await db.close();
    renameSync(partial, folder);
  } catch {
    rmSync(partial, { recursive: true, force: true });
    // Another process may have won the rename; otherwise there is no template (read-only home, full disk).
  }
  return existsSync(join(folder, "PG_VERSION")) ? folder : null;
}

async function copyCluster(template: string, path: string): Promise<void> {
  const partial = `${path}.${process.pid}.partial`;
  try {
    await cp(template, partial, { recursive: true });
    rmSync(path, { recursive: true, force: true }); // an empty folder left by an earlier failed start
    renameSync(partial, path);
  } catch {
    rmSync(partial, { recursive: true, force: true });
  }
}
