import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { createDatabase, rowsOf } from "../src/index.ts";

const adminUrl = "postgres://postgres@127.0.0.1:5432/postgres";
const name = `fig_test_db_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
const url = adminUrl.replace(/\/postgres$/, `/${name}`);

// A migration that is slow on purpose and not idempotent: two unserialized runs would both try to create the table.
const folder = mkdtempSync(join(tmpdir(), "fig-migrations-"));
mkdirSync(join(folder, "meta"));
writeFileSync(
  join(folder, "0000_slow.sql"),
  "select pg_sleep(0.3);\n--> statement-breakpoint\ncreate table widgets (id int primary key);\n",
);
writeFileSync(
  join(folder, "meta", "_journal.json"),
  JSON.stringify({
    version: "7",
    dialect: "postgresql",
    entries: [{ idx: 0, version: "7", when: 1, tag: "0000_slow", breakpoints: true }],
  }),
);

beforeAll(async () => {
  await admin.unsafe(`create database "${name}"`);
});
afterAll(async () => {
  await admin.unsafe(`drop database if exists "${name}" with (force)`);
  await admin.end();
});

test("two replicas migrating at once are serialized by the advisory lock", async () => {
  const a = await createDatabase({ service: "lock-test", url });
  const b = await createDatabase({ service: "lock-test", url });
  await Promise.all([a.migrate(folder), b.migrate(folder)]);
  const rows = await a.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
  expect(rowsOf<{ n: number }>(rows)[0]?.n).toBe(1);
  await Promise.all([a.close(), b.close()]);
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
