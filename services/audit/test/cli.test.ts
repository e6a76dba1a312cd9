import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { appendEntries } from "@fig/audit";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";
import { MIGRATIONS } from "./helpers.ts";

const ROOT = new URL("../../..", import.meta.url).pathname;
let tdb: TestDatabase;

beforeAll(async () => {
  // The CLI is another process: it needs a real server, not the in-memory fallback.
  tdb = await createTestDatabase({
    service: "audit-cli",
    migrationsFolder: MIGRATIONS,
    requiresServer: "bun run audit runs in a child process",
  });
  await appendEntries(
    tdb.db,
    [1, 2, 3].map((n) => ({
      eventId: `cli-${n}`,
      record: {
        at: new Date().toISOString(),
        actor: { sub: "alice", tenant: "platform" },
        kind: "weights",
        subject: "validation",
        from: { validation: n - 1 },
        to: { validation: n },
        reason: null,
        data: null,
      },
    })),
  );
});
afterAll(() => tdb.drop());

async function verify() {
  const child = Bun.spawn(["bun", "run", "audit", "verify"], {
    cwd: ROOT,
    env: { ...Bun.env, AUDIT_DATABASE_URL: tdb.url ?? "" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  return { code, output: out + err };
}

describe("bun run audit verify", () => {
  test("exit 0 with the count on an intact chain", async () => {
    const { code, output } = await verify();
    expect(output).toContain("audit chain intact: 3 entries");
    expect(code).toBe(0);
  });

  test("exit 1 naming the entry edited in SQL", async () => {
    await tdb.db.execute(sql`update audit_entries set to_value = '{"validation": 100}' where seq = 2`);
    const { code, output } = await verify();
    expect(output).toContain("audit entry 2 changed");
    expect(code).toBe(1);
  });
});
