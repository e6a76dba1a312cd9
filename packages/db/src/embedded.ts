import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from "node:fs";
import { copyFile, mkdir, readdir } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";

export type { PGlite };

/** Where a fresh PGlite cluster is kept for reuse: initdb costs seconds, copying its files a fraction of one. */
export const DEFAULT_TEMPLATE_DIR = join(homedir(), ".cache", "fig");

let version: string | undefined;

/**
 * The installed PGlite's version, read on first use rather than at import: drizzle-kit loads a service's schema
 * (and through it this package) as CommonJS under Node, where import.meta.resolve does not exist.
 */
function pgliteVersion(): string {
  version ??= JSON.parse(
    readFileSync(new URL("../package.json", import.meta.resolve("@electric-sql/pglite")), "utf8"),
  ).version as string;
  return version;
}

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
   * Folder holding the template clusters (`pglite-<version>-wal1m-postgres-only/` and one per migrations); null never reads nor writes one.
   * Default: ~/.cache/fig.
   */
  templateDir?: string | null;
  /**
   * The drizzle-kit migrations the database will get: a new database then starts as a copy of a template with
   * them already applied (made once per folder content), so the service's own migrate finds nothing to do.
   */
  migrationsFolder?: string;
};

/**
 * Opens (or creates) a PGlite database at `path` (undefined: in memory). A new database on disk starts as a
 * copy of a cluster initdb made once for this PGlite version, instead of running initdb again (about 9 s on
 * two busy cores, against a file copy); the first database made on a machine makes that template. With
 * `migrationsFolder`, the copy is of a template those migrations were applied to (made once per their content).
 *
 * @example
 * const db = await openPglite(".data/reference-data/pg");
 */
export async function openPglite(
  path: string | undefined,
  { templateDir = DEFAULT_TEMPLATE_DIR, migrationsFolder }: OpenPgliteOptions = {},
): Promise<PGlite> {
  const compiling = pgliteModule();
  if (path && !existsSync(join(path, "PG_VERSION")) && templateDir !== null) {
    // The copy runs on libuv's threads while the main thread compiles.
    const base = join(templateDir, `pglite-${pgliteVersion()}-wal1m-postgres-only`);
    let template = await templateCluster(base, compiling);
    if (template && migrationsFolder) {
      // Named after the folder's owner (services/<name>/drizzle) too: a reader of the cache sees whose it is.
      const owner = basename(dirname(resolve(migrationsFolder)));
      template = await migratedTemplate(
        template,
        `${base}-${owner}-`,
        migrationsKey(migrationsFolder),
        migrationsFolder,
        compiling,
      );
    }
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
    // 1 MB WAL segments instead of 16: the template (and every copy of it) has 7 MB of WAL instead of 16.
    const db = new PGlite({
      dataDir: partial,
      pgliteWasmModule: await compiling,
      initDbStartParams: ["--wal-segsize=1"],
    });
    await db.waitReady;
    // PGlite only ever opens `postgres`: without template0 and template1 every copy is 14 MB in 290 files
    // instead of 30 MB in 980, and the copies are most of a cold start's system time.
    try {
      // One statement per call: DROP DATABASE refuses to run in the implicit transaction of a batch.
      await db.exec(
        "update pg_database set datistemplate = false where datname in ('template0', 'template1')",
      );
      await db.exec("drop database template0");
      await db.exec("drop database template1");
      await db.exec("checkpoint");
    } catch {} // a template with them still works, only bigger
    await db.close();
    renameSync(partial, folder);
  } catch {
    rmSync(partial, { recursive: true, force: true });
    // Another process may have won the rename; otherwise there is no template (read-only home, full disk).
  }
  return existsSync(join(folder, "PG_VERSION")) ? folder : null;
}

/**
 * The name of a migrated template: the migrations' content (file names and bytes), so a changed or added
 * migration makes a new template rather than reuse a stale one.
 */
export function migrationsKey(folder: string): string {
  const hash = createHash("sha256");
  const files = readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  for (const file of files)
    hash
      .update(`${relative(folder, file)}\0`)
      .update(readFileSync(file))
      .update("\0");
  return hash.digest("hex").slice(0, 16);
}

/** `base` with `folder`'s migrations applied, made once at `target`; `base` itself when that fails. */
function migratedTemplate(
  base: string,
  prefix: string,
  key: string,
  folder: string,
  compiling: Promise<WebAssembly.Module>,
): Promise<string> {
  const target = `${prefix}${key}`;
  if (existsSync(join(target, "PG_VERSION"))) {
    markUsed(target);
    return Promise.resolve(target);
  }
  let made = making.get(target);
  if (!made) {
    made = makeMigratedTemplate(base, target, folder, compiling)
      .then((folderMade) => {
        if (folderMade) removeUnusedTemplates(prefix);
        return folderMade;
      })
      .finally(() => making.delete(target));
    making.set(target, made);
  }
  return made.then((folderMade) => folderMade ?? base);
}

async function makeMigratedTemplate(
  base: string,
  target: string,
  folder: string,
  compiling: Promise<WebAssembly.Module>,
): Promise<string | null> {
  const partial = `${target}.${process.pid}.partial`;
  try {
    await copyTree(base, partial);
    const db = new PGlite({ dataDir: partial, pgliteWasmModule: await compiling });
    await db.waitReady;
    try {
      // Loaded only here: the runner needs drizzle once per migrations change, not on every start.
      const [{ drizzle }, { migrate }] = await Promise.all([
        import("drizzle-orm/pglite"),
        import("drizzle-orm/pglite/migrator"),
      ]);
      await migrate(drizzle(db), { migrationsFolder: folder });
    } finally {
      await db.close();
    }
    renameSync(partial, target);
  } catch {
    rmSync(partial, { recursive: true, force: true });
  }
  return existsSync(join(target, "PG_VERSION")) ? target : null;
}

const UNUSED_FOR_MS = 14 * 24 * 3600 * 1000;

function markUsed(folder: string): void {
  try {
    const now = new Date();
    utimesSync(folder, now, now);
  } catch {} // read-only cache: the template still works, it is only pruned sooner
}

/**
 * The same owner's migrated templates no start used for two weeks: 15 MB each. Age, not "all but this one":
 * checkouts on two branches share the cache, and each would otherwise delete the other's template.
 */
function removeUnusedTemplates(prefix: string): void {
  const dir = dirname(prefix);
  const name = basename(prefix);
  for (const entry of readdirSync(dir)) {
    if (!entry.startsWith(name) || !/^[0-9a-f]{16}$/.test(entry.slice(name.length))) continue;
    try {
      if (Date.now() - statSync(join(dir, entry)).mtimeMs > UNUSED_FOR_MS) {
        rmSync(join(dir, entry), { recursive: true, force: true });
      }
    } catch {} // removed meanwhile by another process
  }
}

async function copyCluster(template: string, path: string): Promise<void> {
  const partial = `${path}.${process.pid}.partial`;
  try {
    await copyTree(template, partial);
    rmSync(path, { recursive: true, force: true }); // an empty folder left by an earlier failed start
    renameSync(partial, path);
  } catch {
    rmSync(partial, { recursive: true, force: true });
  }
}

let copying: Promise<unknown> = Promise.resolve();

/**
 * Copies a cluster's files, one cluster at a time: several copies at once cost the kernel three times the
 * CPU of the same copies in a row (ext4, two cores), and fs.cp is slower still.
 */
function copyTree(from: string, to: string): Promise<void> {
  const copy = copying.then(async () => {
    const entries = await readdir(from, { recursive: true, withFileTypes: true });
    await mkdir(to, { recursive: true });
    for (const entry of entries) {
      if (entry.isDirectory())
        mkdirSync(join(to, relative(from, join(entry.parentPath, entry.name))), { recursive: true });
    }
    await Promise.all(
      entries
        .filter((entry) => entry.isFile())
        .map((entry) => {
          const file = join(entry.parentPath, entry.name);
          return copyFile(file, join(to, relative(from, file)));
        }),
    );
  });
  copying = copy.catch(() => {});
  return copy;
}
