import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";

export type { PGlite };

/** Where a fresh PGlite cluster is kept for reuse: initdb costs seconds, copying its result well under one. */
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
   * Folder holding the template cluster (`pglite-<version>.tar`); null never reads nor writes one.
   * Default: ~/.cache/fig.
   */
  templateDir?: string | null;
};

/**
 * Opens (or creates) a PGlite database at `path` (undefined: in memory). A new database starts as a copy of
 * a cluster initdb made once for this PGlite version instead of running initdb again (about 9 s on two busy
 * cores against under 1 s); the first one made on a machine becomes that template.
 *
 * @example
 * const db = await openPglite(".data/reference-data/pg");
 */
export async function openPglite(
  path: string | undefined,
  { templateDir = DEFAULT_TEMPLATE_DIR }: OpenPgliteOptions = {},
): Promise<PGlite> {
  const pgliteWasmModule = await pgliteModule();
  const fresh = path === undefined || !existsSync(join(path, "PG_VERSION"));
  const template = templateDir === null ? null : join(templateDir, `pglite-${pgliteVersion}.tar`);
  if (path) mkdirSync(path, { recursive: true });
  if (fresh && template && existsSync(template)) {
    try {
      const db = new PGlite({
        dataDir: path,
        pgliteWasmModule,
        loadDataDir: new Blob([readFileSync(template)]),
      });
      await db.waitReady;
      return db;
    } catch {
      // A damaged template: forget it and make the database the slow way (which writes a new one).
      rmSync(template, { force: true });
      if (path) rmSync(path, { recursive: true, force: true });
      if (path) mkdirSync(path, { recursive: true });
    }
  }
  const db = new PGlite({ dataDir: path, pgliteWasmModule });
  await db.waitReady;
  if (fresh && template && !existsSync(template)) await saveTemplate(db, template);
  return db;
}

async function saveTemplate(db: PGlite, template: string): Promise<void> {
  try {
    const tar = await db.dumpDataDir("none");
    mkdirSync(dirname(template), { recursive: true });
    // Written aside then renamed: a concurrent reader sees the whole file or none.
    const partial = `${template}.${process.pid}.partial`;
    writeFileSync(partial, new Uint8Array(await tar.arrayBuffer()));
    renameSync(partial, template);
  } catch {
    // No cache (read-only home, full disk): the next database runs initdb too, nothing worse.
  }
}
