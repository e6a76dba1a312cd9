import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { connect as connectTcp } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { openPglite, type PGlite } from "../src/embedded.ts";
import { serveOverWire, type WireServer } from "../src/wire-server.ts";

// A real PGlite on disk, served on a free port; each test makes its own tables.
const dir = mkdtempSync(join(tmpdir(), "fig-wire-"));
let db: PGlite;
let server: WireServer;
const clients: postgres.Sql[] = [];
const connect = (max = 5) => {
  const sql = postgres(server.url, { max, onnotice: () => {} });
  clients.push(sql);
  return sql;
};

beforeAll(async () => {
  // A template of its own, so the first test run on a machine also covers making one.
  db = await openPglite(join(dir, "pg"), { templateDir: join(dir, "templates") });
  server = await serveOverWire(db);
});
afterAll(async () => {
  for (const sql of clients) await sql.end({ timeout: 1 }).catch(() => {});
  await server?.close();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a new database is a copy of the template cluster, which the first one made", () => {
  const templates = new Bun.Glob("pglite-*/PG_VERSION").scanSync(join(dir, "templates"));
  expect([...templates]).toHaveLength(1);
  expect(existsSync(join(dir, "pg", "PG_VERSION"))).toBe(true);
});

test("pooled clients running the same statements at once each get their own answers", async () => {
  // Interleaved Bind/Execute of two clients on PGlite's one session would answer one with the other's portal.
  const a = connect(10);
  const b = connect(10);
  await a`create table wire_pairs (n int primary key)`;
  const work = Array.from({ length: 200 }, (_, i) =>
    i % 3 === 0
      ? (i % 2 ? a : b).begin(async (tx) => {
          await tx`insert into wire_pairs values (${i})`;
          const [row] = await tx`select n from wire_pairs where n = ${i}`;
          return row?.n;
        })
      : (i % 2 ? a : b)
          .unsafe("select $1::int as n", [i], { prepare: i % 4 === 0 })
          .then((rows) => rows[0]?.n),
  );
  const answers = await Promise.all(work);
  expect(answers).toEqual(Array.from({ length: 200 }, (_, i) => i));
  const [counted] = await a`select count(*)::int as count from wire_pairs`;
  expect(counted?.count).toBe(Math.ceil(200 / 3));
});

test("a client's open transaction is invisible to others, who wait for it rather than run inside it", async () => {
  const a = connect(1);
  const b = connect(1);
  await a`create table wire_iso (n int)`;
  let inside!: () => void;
  const insideTx = new Promise<void>((r) => {
    inside = r;
  });
  let finish!: () => void;
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const tx = a
    .begin(async (t) => {
      await t`insert into wire_iso values (1)`;
      inside();
      await finished;
      throw new Error("roll back");
    })
    .catch((error: Error) => error.message);
  await insideTx;
  // b's read is queued behind a's transaction; once a rolls back, b sees no row.
  // (Run inside a's transaction, it would count a's row.)
  const read = b`select count(*)::int as count from wire_iso`;
  finish();
  expect(await tx).toBe("roll back");
  const [counted] = await read;
  expect(counted?.count).toBe(0);
});

test("in-process queries on the same PGlite take turns with the wire clients", async () => {
  const a = connect(1);
  await a`create table wire_mixed (n int)`;
  // a's transaction rolls back: an in-process insert that ran inside it would be rolled back with it.
  const [rolledBack] = await Promise.all([
    a
      .begin(async (t) => {
        for (let i = 0; i < 20; i++) await t`insert into wire_mixed values (${i})`;
        throw new Error("roll back");
      })
      .catch((error: Error) => error.message),
    (async () => {
      for (let i = 0; i < 20; i++) await db.query("insert into wire_mixed values ($1)", [100 + i]);
    })(),
  ]);
  expect(rolledBack).toBe("roll back");
  const rows = await a`select n from wire_mixed order by n`;
  expect(rows.map((r) => r.n)).toEqual(Array.from({ length: 20 }, (_, i) => 100 + i));
});

test("clients whose prepared statement names collide (Bun.SQL names them P0, P1… on every connection)", async () => {
  const first = new Bun.SQL(server.url, { max: 1 });
  const second = new Bun.SQL(server.url, { max: 1 });
  try {
    const [a, b] = await Promise.all([first`select ${1}::int as n`, second`select ${"two"}::text as t`]);
    expect([a[0].n, b[0].t]).toEqual([1, "two"]);
    // Each keeps using its own P0 afterwards.
    expect((await first`select ${3}::int as n`)[0].n).toBe(3);
    expect((await second`select ${"four"}::text as t`)[0].t).toBe("four");
  } finally {
    await first.close();
    await second.close();
  }
});

test("a client that disconnects mid-transaction leaves nothing behind and blocks nobody", async () => {
  const b = connect(1);
  await b`create table wire_gone (n int)`;
  // A raw client: startup, then BEGIN and an insert; once the server says "in a transaction" ('T'), the socket
  // is destroyed without COMMIT or Terminate, as a killed process's would be.
  const socket = connectTcp({ host: "127.0.0.1", port: server.port });
  const replies: Buffer[] = [];
  const inTransaction = new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      replies.push(chunk);
      const all = Buffer.concat(replies);
      if (all.length >= 6 && all.subarray(-6).equals(Buffer.from([0x5a, 0, 0, 0, 5, 0x54]))) resolve();
    });
  });
  socket.write(startupMessage());
  socket.write(queryMessage("begin; insert into wire_gone values (1)"));
  await inTransaction;
  socket.destroy();
  const [counted] = await b`select count(*)::int as count from wire_gone`;
  expect(counted?.count).toBe(0);
  expect(db.isInTransaction()).toBe(false);
});

test("a client idle in a transaction past the timeout is cut off and rolled back; the others go on", async () => {
  const strict = await serveOverWire(db, { idleInTransactionTimeoutMs: 300 });
  const idle = postgres(strict.url, { max: 1, onnotice: () => {} });
  const other = postgres(strict.url, { max: 1, onnotice: () => {} });
  try {
    await idle`create table wire_idle (n int)`;
    // Like a psql left at "begin;": a transaction opened and never finished.
    const stuck = idle.begin(async (t) => {
      await t`insert into wire_idle values (1)`;
      await new Promise(() => {});
    });
    stuck.catch(() => {});
    // This read waits behind the open transaction until the timeout ends it, then finds no row.
    const [counted] = await other`select count(*)::int as count from wire_idle`;
    expect(counted?.count).toBe(0);
    // postgres.js reports the closed connection; psql prints the FATAL reason the server sent before closing.
    await expect(stuck).rejects.toThrow(/idle-in-transaction timeout|CONNECTION_CLOSED/);
  } finally {
    await idle.end({ timeout: 0 }).catch(() => {});
    await other.end({ timeout: 1 });
    await strict.close();
  }
});

test("psql-style simple queries and errors keep the connection usable", async () => {
  const a = connect(1);
  await expect(a.unsafe("select 1/0")).rejects.toThrow(/division by zero/);
  await expect(a.begin(async (t) => t`select 1/0`)).rejects.toThrow(/division by zero/);
  const [row] = await a.unsafe("select 'yes' as ok");
  expect(row?.ok).toBe("yes");
});

function startupMessage(): Buffer {
  const body = Buffer.from("user\0postgres\0database\0postgres\0\0");
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + body.length, 0);
  head.writeInt32BE(196608, 4); // protocol 3.0
  return Buffer.concat([head, body]);
}

function queryMessage(text: string): Buffer {
  const body = Buffer.from(`${text}\0`);
  const head = Buffer.alloc(5);
  head[0] = 0x51; // 'Q'
  head.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}
