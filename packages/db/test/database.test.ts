import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import postgres from "postgres";
// By path, not "@fig/testing": that package depends on this one.
import { createTestDatabase, type TestDatabase } from "../../testing/src/index.ts";
import { createDatabase, rowsOf } from "../src/index.ts";

let tdb: TestDatabase;
let url: string;

// A migration that is not idempotent: two unserialized runs would both try to create the table.
const folder = mkdtempSync(join(tmpdir(), "fig-migrations-"));
mkdirSync(join(folder, "meta"));
writeFileSync(join(folder, "0000_widgets.sql"), "create table widgets (id int primary key);\n");
writeFileSync(
  join(folder, "meta", "_journal.json"),
  JSON.stringify({
    version: "7",
    dialect: "postgresql",
    entries: [{ idx: 0, version: "7", when: 1, tag: "0000_widgets", breakpoints: true }],
  }),
);

beforeAll(async () => {
  tdb = await createTestDatabase({
    service: "db",
    requiresServer: "the advisory-lock test holds the lock from a third connection",
  });
  url = tdb.url as string;
});
afterAll(async () => {
  await tdb?.drop();
  rmSync(folder, { recursive: true, force: true });
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

test("two replicas migrating at once are serialized by the advisory lock", async () => {
  // A third session holds the migration lock, so both replicas must start and wait for it: the overlap is forced.
  const holder = postgres(url, { max: 1, onnotice: () => {} });
  const key = "fig:migrate:lock-test";
  await holder`select pg_advisory_lock(hashtext(${key}))`;
  const a = await createDatabase({ service: "lock-test", url });
  const b = await createDatabase({ service: "lock-test", url });
  try {
    const settled: string[] = [];
    const runs = [a, b].map((replica, i) =>
      replica.migrate(folder).then(
        () => settled.push(`replica ${i} migrated`),
        (error: Error) => settled.push(`replica ${i} failed: ${error.message}`),
      ),
    );
    const waiting = async () =>
      Number(
        (
          await holder`select count(*)::int as n from pg_locks l join pg_database d on d.oid = l.database
            where l.locktype = 'advisory' and not l.granted and d.datname = current_database()`
        )[0]?.n,
      );
    await until("both replicas to wait for the migration lock", async () =>
      (await waiting()) === 2 ? true : undefined,
    );
    expect(settled).toEqual([]);
    expect((await holder`select to_regclass('widgets') as t`)[0]?.t).toBeNull();

    await holder`select pg_advisory_unlock(hashtext(${key}))`;
    await Promise.all(runs);
    expect(settled.sort()).toEqual(["replica 0 migrated", "replica 1 migrated"]);
    const rows = await a.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
    expect(rowsOf<{ n: number }>(rows)[0]?.n).toBe(1);
    expect((await holder`select to_regclass('widgets')::text as t`)[0]?.t).toBe("widgets");
  } finally {
    await holder.end();
    await Promise.all([a.close(), b.close()]);
  }
});

test("statement timeout applies to every connection", async () => {
  const db = await createDatabase({ service: "timeout-test", url, statementTimeoutMs: 200 });
  const error = await db.db.execute(sql`select pg_sleep(1)`).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(String(error?.cause ?? error)).toContain("statement timeout");
  await db.close();
});

test("embedded PGlite migrates and answers when no URL is given", async () => {
  const db = await createDatabase({ service: "embedded-test", dataDir: "memory://" });
  expect(db.kind).toBe("pglite");
  await db.migrate(folder);
  await db.ping();
  await db.close();
});
