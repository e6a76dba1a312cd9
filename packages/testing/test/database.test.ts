import { afterEach, describe, expect, spyOn, test } from "bun:test";
import { join } from "node:path";
import postgres from "postgres";
import { testConfig } from "../src/config.ts";
import { createTestDatabase, fallbackRefusal } from "../src/database.ts";

// No migrations: the helper's choice of database is under test, not a schema.
const migrationsFolder = join(import.meta.dir, "drizzle");
const warn = spyOn(console, "warn").mockImplementation(() => {});
afterEach(() => warn.mockClear());

/** A port nobody listens on: bound, read, released. */
function closedPort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

describe("fallbackRefusal: PGlite only when nothing listens, and never under CI", () => {
  const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
  test("nothing listens, outside CI → fallback allowed", () => {
    expect(fallbackRefusal(refused, { ci: false })).toBeUndefined();
  });
  test("nothing listens, under CI → refused", () => {
    expect(fallbackRefusal(refused, { ci: true })).toContain("CI=true");
  });
  test("nothing listens, but the file needs a server → refused with its reason", () => {
    expect(fallbackRefusal(refused, { ci: false, requiresServer: "a child process" })).toContain(
      "a child process",
    );
  });
  for (const [what, code] of [
    ["a wrong role", "28000"],
    ["too many clients", "53300"],
    ["a slow connect", "CONNECT_TIMEOUT"],
    ["a closed connection", "CONNECTION_CLOSED"],
    ["no code at all", undefined],
  ] as const) {
    test(`${what} → refused, even outside CI`, () => {
      expect(fallbackRefusal(Object.assign(new Error(what), { code }), { ci: false })).toContain(
        "ECONNREFUSED",
      );
    });
  }
});

describe("createTestDatabase", () => {
  test("nothing listens, under CI → fails loudly, naming the file", async () => {
    const adminUrl = `postgres://postgres@127.0.0.1:${closedPort()}/postgres`;
    const attempt = createTestDatabase({ service: "testing", migrationsFolder, adminUrl, ci: true });
    await expect(attempt).rejects.toThrow(/database\.test\.ts: cannot use Postgres .*CI=true refuses/);
  });

  test("nothing listens, outside CI → in-memory PGlite, said for this file", async () => {
    const adminUrl = `postgres://postgres@127.0.0.1:${closedPort()}/postgres`;
    const tdb = await createTestDatabase({ service: "testing", migrationsFolder, adminUrl, ci: false });
    try {
      expect(tdb.kind).toBe("pglite");
      expect(tdb.url).toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0]?.[0])).toMatch(
        /database\.test\.ts: nothing listens .* in-memory PGlite/,
      );
    } finally {
      await tdb.drop();
    }
  });

  test("a server that accepts and then hangs up → fails, no fallback", async () => {
    const listener = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(socket) {
          socket.end();
        },
        data() {},
      },
    });
    try {
      const adminUrl = `postgres://postgres@127.0.0.1:${listener.port}/postgres`;
      const attempt = createTestDatabase({ service: "testing", migrationsFolder, adminUrl, ci: false });
      await expect(attempt).rejects.toThrow(/only "nothing listens" \(ECONNREFUSED\) falls back/);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      listener.stop(true);
    }
  });

  test("the real server with a role it does not know → fails, no fallback", async () => {
    const url = new URL(testConfig.databaseUrl);
    url.username = "fig_no_such_role";
    const attempt = createTestDatabase({
      service: "testing",
      migrationsFolder,
      adminUrl: url.toString(),
      ci: false,
    });
    await expect(attempt).rejects.toThrow(/fig_no_such_role/);
    expect(warn).not.toHaveBeenCalled();
  });

  test("the real server → a database of its own, kind postgres, dropped by drop()", async () => {
    const tdb = await createTestDatabase({ service: "testing", migrationsFolder });
    const url = tdb.url as string;
    expect(tdb.kind).toBe("postgres");
    expect(new URL(url).pathname).toMatch(/^\/fig_test_testing_[0-9a-f]{12}$/);
    const name = new URL(url).pathname.slice(1);
    const admin = postgres(testConfig.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const exists = async () =>
        (await admin`select 1 from pg_database where datname = ${name}`).length === 1;
      expect(await exists()).toBe(true);
      await tdb.drop();
      expect(await exists()).toBe(false);
    } finally {
      await admin.end();
    }
  });
});
