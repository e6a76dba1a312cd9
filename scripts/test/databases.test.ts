import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createNatsClient, deleteNamespace } from "../../packages/events/src/index.ts";
import { TEST_NATS_URL } from "../../packages/testing/src/nats.ts";
import {
  describePostgresUrl,
  prepareServiceDatabases,
  serveEmbeddedDatabases,
  serviceDatabaseName,
  withDatabase,
} from "../dev-runner/databases.ts";

// The real Postgres the suite uses (as packages/testing); every database made here has a unique name and is dropped.
const SERVER_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const DEV_SCRIPT = resolve(import.meta.dir, "..", "dev.ts");
const unique = () => `devdb${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;

const admin = new Bun.SQL(SERVER_URL, { max: 2 });
const made = new Set<string>();

afterAll(async () => {
  for (const name of made) await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.close();
});

async function databasesLike(prefix: string): Promise<string[]> {
  const rows: { datname: string }[] = await admin`
    select datname from pg_database where starts_with(datname, ${prefix}) order by datname`;
  return rows.map((r) => r.datname);
}

async function currentDatabase(url: string): Promise<string> {
  const sql = new Bun.SQL(url, { max: 1 });
  try {
    const [row] = await sql`select current_database() as name`;
    return row.name;
  } finally {
    await sql.close();
  }
}

describe("prepareServiceDatabases: a database per service on DATABASE_URL's server", () => {
  test("names them after the service, creates the missing ones, hands out URLs that reach them", async () => {
    const prefix = `${unique()}_`;
    for (const s of ["reference-data", "validation"]) made.add(serviceDatabaseName(s, prefix));
    const first = await prepareServiceDatabases(SERVER_URL, ["reference-data", "validation"], { prefix });
    expect(first.map(({ service, database, created }) => ({ service, database, created }))).toEqual([
      { service: "reference-data", database: `${prefix}reference_data`, created: true },
      { service: "validation", database: `${prefix}validation`, created: true },
    ]);
    expect(await databasesLike(prefix)).toEqual([`${prefix}reference_data`, `${prefix}validation`]);
    for (const db of first) expect(await currentDatabase(db.url)).toBe(db.database);

    const again = await prepareServiceDatabases(SERVER_URL, ["reference-data", "validation"], { prefix });
    expect(again.map((db) => db.created)).toEqual([false, false]);
    expect(again.map((db) => db.url)).toEqual(first.map((db) => db.url));
  });

  test("two runners at once: both succeed, each database created exactly once", async () => {
    const prefix = `${unique()}_`;
    for (const s of ["a", "b"]) made.add(serviceDatabaseName(s, prefix));
    const runs = await Promise.all(
      [0, 1, 2].map(() => prepareServiceDatabases(SERVER_URL, ["a", "b"], { prefix })),
    );
    for (const index of [0, 1]) {
      expect(runs.filter((run) => run[index]?.created)).toHaveLength(1);
    }
    expect(await databasesLike(prefix)).toEqual([`${prefix}a`, `${prefix}b`]);
  });

  test("a server that refuses fails with its reason", async () => {
    const url = withDatabase(SERVER_URL, "postgres");
    const u = new URL(url);
    u.username = `no_such_role_${unique()}`;
    await expect(prepareServiceDatabases(u.toString(), ["x"])).rejects.toThrow(/no_such_role|role|auth/i);
  });

  test("names and URLs", () => {
    expect(serviceDatabaseName("reference-data")).toBe("reference_data");
    expect(serviceDatabaseName("Gateway.v2")).toBe("gateway_v2");
    expect(withDatabase("postgres://u:p@h:5433/postgres?sslmode=disable", "validation")).toBe(
      "postgres://u:p@h:5433/validation?sslmode=disable",
    );
    expect(describePostgresUrl("postgres://u:secret@h:5433/validation")).toBe("postgres://h:5433/validation");
  });
});

// A service that prints the database it was given and answers /ready; SIGTERM exits 0.
const FAKE_MAIN = `
const server = Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: () => new Response("ok") });
console.log("given db=" + new URL(process.env.DATABASE_URL).pathname.slice(1));
process.on("SIGTERM", () => { server.stop(true); process.exit(0); });
`;

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen({ port: 0, host: "127.0.0.1" }, () => {
      const address = srv.address();
      srv.close(() => resolvePort(typeof address === "object" && address ? address.port : 0));
    });
  });
}

test("bun run dev with DATABASE_URL gives each service its own database and prints which", async () => {
  const root = mkdtempSync(join(tmpdir(), "fig-dev-db-test-"));
  const names = [`${unique()}-one`, `${unique()}-two`];
  for (const name of names) made.add(serviceDatabaseName(name));
  try {
    for (const name of names) {
      mkdirSync(join(root, "services", name, "src"), { recursive: true });
      // A drizzle/ folder is what marks a service as having a database (the gateway has none).
      mkdirSync(join(root, "services", name, "drizzle"), { recursive: true });
      const pkg = { name: `@fig/${name}`, private: true, fig: { port: await freePort() } };
      writeFileSync(join(root, "services", name, "package.json"), JSON.stringify(pkg));
      writeFileSync(join(root, "services", name, "src", "main.ts"), FAKE_MAIN);
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? root,
      NO_COLOR: "1",
      FIG_DEV_ROOT: root,
      NATS_URL: "nats://nats.invalid:4222", // the fake services never connect
      DATABASE_URL: SERVER_URL,
    };
    const proc = Bun.spawn([process.execPath, DEV_SCRIPT], {
      cwd: root,
      env,
      stdout: "pipe",
      stderr: "pipe",
    });
    let output = "";
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
    };
    const collected = Promise.all([collect(proc.stdout), collect(proc.stderr)]);
    const deadline = Date.now() + 20_000;
    while (!/all 2 service\(s\)/.test(output) && proc.exitCode === null && Date.now() < deadline)
      await Bun.sleep(50);
    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
    await collected;

    const server = new URL(SERVER_URL).host;
    for (const name of names) {
      const db = serviceDatabaseName(name);
      expect(output).toMatch(new RegExp(`${name} +→ postgres://${server}/${db} \\(created\\)`));
      expect(output).toContain(`${name} │ given db=${db}`);
    }
    expect(output).toContain(`Postgres at ${server}, a database per service`);
    expect(await databasesLike(serviceDatabaseName(names[0] as string))).toHaveLength(1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}, 30_000);

// A service that uses its database the way the real ones do (createDatabase on DATABASE_URL, the real
// migrations), and keeps using it: a write-and-read transaction every few milliseconds until SIGTERM.
const BUSY_MAIN = (repo: string, service: string) => `
import { createDatabase } from ${JSON.stringify(join(repo, "packages/db/src/index.ts"))};
import { sql } from ${JSON.stringify(join(repo, "packages/db/node_modules/drizzle-orm/index.js"))};
const database = await createDatabase({ service: ${JSON.stringify(service)}, url: process.env.DATABASE_URL, poolMax: 4 });
await database.migrate(${JSON.stringify(join(repo, "services", "dash", service, "drizzle"))});
await database.db.execute(sql\`create table if not exists dev_ticks (n int)\`);
let ticks = 0;
const errors = [];
let running = true;
const loop = (async () => {
  while (running) {
    try {
      await database.db.transaction(async (tx) => {
        await tx.execute(sql\`insert into dev_ticks values (\${ticks})\`);
        await tx.execute(sql\`select count(*) from codes\`);
      });
      ticks++;
    } catch (error) {
      errors.push(String(error));
    }
    await Bun.sleep(5);
  }
})();
const server = Bun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: () => Response.json({ ticks, errors }) });
process.on("SIGTERM", async () => { running = false; await loop; server.stop(true); await database.close(); process.exit(0); });
`;

test("bun run dev on embedded PGlite: migrate-data reaches both databases from a second process, with nothing set, while the services keep using them", async () => {
  const repo = resolve(import.meta.dir, "..", "..");
  const root = mkdtempSync(join(tmpdir(), "fig-dev-embedded-test-"));
  const namespace = `devdb${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
  const services = ["monolith", "reference-data"];
  const ports = new Map<string, number>();
  let output = "";
  let runner: Bun.Subprocess | undefined;
  try {
    for (const name of services) {
      mkdirSync(join(root, "services", name, "src"), { recursive: true });
      mkdirSync(join(root, "services", name, "drizzle"), { recursive: true });
      ports.set(name, await freePort()); // not 80xx: the databases get free ports, not 548x
      const pkg = { name: `@fig/${name}`, private: true, fig: { port: ports.get(name) } };
      writeFileSync(join(root, "services", name, "package.json"), JSON.stringify(pkg));
      writeFileSync(join(root, "services", name, "src", "main.ts"), BUSY_MAIN(repo, name));
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? root,
      NO_COLOR: "1",
      FIG_DEV_ROOT: root,
      NATS_URL: TEST_NATS_URL,
    };
    runner = Bun.spawn([process.execPath, DEV_SCRIPT], { cwd: root, env, stdout: "pipe", stderr: "pipe" });
    const proc = runner;
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) output += decoder.decode(chunk, { stream: true });
    };
    const collected = Promise.all([
      collect(proc.stdout as ReadableStream),
      collect(proc.stderr as ReadableStream),
    ]);
    const deadline = Date.now() + 90_000;
    while (!/all 2 service\(s\) ready/.test(output) && proc.exitCode === null && Date.now() < deadline)
      await Bun.sleep(50);
    expect(output).toMatch(/all 2 service\(s\) ready/);

    // The runner prints each URL and writes the same ones down for the tools.
    const written = JSON.parse(readFileSync(join(root, ".data", "dev-databases.json"), "utf8"));
    expect(written.kind).toBe("embedded");
    for (const name of services) {
      const url = written.databases[name] as string;
      expect(url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      expect(output).toContain(`${name.padEnd("reference-data".length)} → ${url}`);
    }
    const ticks = async (name: string) =>
      (await (await fetch(`http://127.0.0.1:${ports.get(name)}/`)).json()) as {
        ticks: number;
        errors: string[];
      };
    const before = await ticks("monolith");

    const migrateData = async (command: string) => {
      const cli = Bun.spawn(
        [process.execPath, join(repo, "packages/datasync/src/cli.ts"), command, "reference-data"],
        {
          cwd: root,
          env: { PATH: env.PATH, HOME: env.HOME, NATS_URL: TEST_NATS_URL, FIG_NAMESPACE: namespace },
          stdout: "pipe",
          stderr: "pipe",
        },
      );
      const [stdout, stderr, code] = await Promise.all([
        new Response(cli.stdout).text(),
        new Response(cli.stderr).text(),
        cli.exited,
      ]);
      return { stdout, stderr, code };
    };

    // A row only the monolith has, written over the wire by this process while the services run.
    const monolith = new Bun.SQL(written.databases.monolith, { max: 2 });
    try {
      await monolith.begin(
        (tx) => tx`insert into codes (code, description, category, tariff_cents, unit, place_of_service,
          effective_from, search_text) values ('ZZ999', 'test', 'test', 1, 'unit', 'any', '2026-01-01', 'zz999')`,
      );
      const differs = await migrateData("verify");
      expect(differs.stderr).toContain(
        `monolith database: ${describePostgresUrl(written.databases.monolith)} (from .data/dev-databases.json`,
      );
      expect(differs.stderr).toContain(
        `reference-data database: ${describePostgresUrl(written.databases["reference-data"])} (from .data/dev-databases.json`,
      );
      expect(differs.stdout).toMatch(/codes.*ZZ999/s);
      expect(differs.code).toBe(1);

      await monolith`delete from codes where code = 'ZZ999'`;
    } finally {
      await monolith.close();
    }
    const same = await migrateData("verify");
    expect(same.stdout).toContain("OK");
    expect(same.code).toBe(0);

    // The services kept writing through all of it, without an error.
    for (const name of services) expect((await ticks(name)).errors).toEqual([]);
    expect((await ticks("monolith")).ticks).toBeGreaterThan(before.ticks);

    proc.kill("SIGINT");
    expect(await proc.exited).toBe(0);
    await collected;
    expect(existsSync(join(root, ".data", "dev-databases.json"))).toBe(false);
  } finally {
    if (runner && runner.exitCode === null) runner.kill("SIGKILL");
    const nats = createNatsClient({ servers: TEST_NATS_URL, name: "dev-databases-test" });
    await deleteNamespace(await nats.manager(), namespace).catch(() => {});
    await nats.close();
    rmSync(root, { recursive: true, force: true });
  }
}, 120_000);

/** A drizzle-kit migrations folder (journal + one .sql per entry), as `drizzle-kit generate` writes it. */
function writeMigrations(folder: string, sqls: string[]): void {
  mkdirSync(join(folder, "meta"), { recursive: true });
  const entries = sqls.map((_, idx) => ({
    idx,
    version: "7",
    when: 1_700_000_000_000 + idx,
    tag: `000${idx}_m`,
    breakpoints: true,
  }));
  for (const [idx, text] of sqls.entries()) writeFileSync(join(folder, `000${idx}_m.sql`), text);
  writeFileSync(
    join(folder, "meta", "_journal.json"),
    JSON.stringify({ version: "7", dialect: "postgresql", entries }),
  );
}

test("embedded: a new database starts with its service's migrations applied, from a template made once per migrations content", async () => {
  const root = mkdtempSync(join(tmpdir(), "fig-dev-template-test-"));
  const templateDir = join(root, "templates");
  const dir = join(root, "services", "notes");
  const folder = join(dir, "drizzle");
  const open = async (dataDir: string) => {
    const served = await serveEmbeddedDatabases(root, [{ name: "notes", port: 0, dir }], {
      dataDir,
      templateDir,
    });
    const [database] = served.databases;
    await database?.ready;
    const sql = new Bun.SQL(database?.url ?? "", { max: 1 });
    try {
      const applied: { hash: string }[] =
        await sql`select hash from drizzle.__drizzle_migrations order by id`;
      const tables: { name: string }[] = await sql`
        select tablename as name from pg_tables where schemaname = 'public' order by tablename`;
      return { applied: applied.length, tables: tables.map((t) => t.name) };
    } finally {
      await sql.close();
      await served.close();
    }
  };
  const migrated = () =>
    [...new Bun.Glob("pglite-*-notes-*/PG_VERSION").scanSync(templateDir)].map((p) => p.split("/")[0]);
  try {
    writeMigrations(folder, ["create table notes (id int primary key);"]);
    // Before any client: the rows drizzle's migrator would have written, and its table.
    expect(await open(".data-a")).toEqual({ applied: 1, tables: ["notes"] });
    expect(migrated()).toHaveLength(1);
    const first = migrated()[0];

    // The same migrations: the same template, copied again.
    expect(await open(".data-b")).toEqual({ applied: 1, tables: ["notes"] });
    expect(migrated()).toEqual([first]);

    // A migration added: a new template with it; the previous one is kept (another branch may still use it).
    writeMigrations(folder, ["create table notes (id int primary key);", "create table tags (id int);"]);
    expect(await open(".data-c")).toEqual({ applied: 2, tables: ["notes", "tags"] });
    expect(migrated()).toHaveLength(2);
    expect(migrated()).toContain(first);

    // A database that exists is opened as it is, never replaced by a template.
    expect(await open(".data-a")).toEqual({ applied: 1, tables: ["notes"] });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}, 120_000);
