import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import {
  type AuditRecord,
  appendEntries,
  databaseChainSource,
  GENESIS_HASH,
  readChain,
  verifyChain,
} from "@fig/audit";
import { createTestDatabase, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";

const migrationsFolder = new URL("../drizzle", import.meta.url).pathname;
let tdb: TestDatabase;

beforeAll(async () => {
  tdb = await createTestDatabase({ service: "audit-chain", migrationsFolder });
});
afterAll(() => tdb.drop());

function record(n: number, extra: Partial<AuditRecord> = {}): AuditRecord {
  return {
    at: new Date(Date.UTC(2026, 11, 7, 8, 0, n)).toISOString(),
    actor: { sub: `alice-${n}`, tenant: "platform" },
    kind: "weights",
    subject: "validation",
    from: { monolith: 100 - n, validation: n },
    to: { validation: n + 1, monolith: 99 - n },
    reason: `step ${n}`,
    data: { p95Ms: 120.5 + n, errorRate: 0.001 },
    ...extra,
  };
}

const verify = () => verifyChain(databaseChainSource(tdb.db));

beforeEach(async () => {
  // Each test starts from an empty chain (the head back at the genesis).
  await tdb.db.execute(sql`delete from audit_entries`);
  await tdb.db.execute(sql`update audit_head set seq = 0, hash = ${GENESIS_HASH} where id = 1`);
  await appendEntries(
    tdb.db,
    [1, 2, 3, 4, 5].map((n) => ({ eventId: `event-${n}`, record: record(n) })),
  );
});

describe("audit chain", () => {
  test("entries link to the one before and verify counts them", async () => {
    const entries = [];
    for await (const entry of readChain(tdb.db)) entries.push(entry);
    expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(entries[0]?.prevHash).toBe(GENESIS_HASH);
    for (let i = 1; i < entries.length; i++)
      expect(entries[i]?.prevHash).toBe(entries[i - 1]?.hash as string);
    // Read back from jsonb (keys reordered) and timestamptz, the hashes still hold.
    expect(entries[1]?.to).toEqual({ monolith: 97, validation: 3 });
    expect(await verify()).toMatchObject({ ok: true, count: 5 });
  });

  test("an event id already in the log is not appended again", async () => {
    const result = await appendEntries(tdb.db, [
      { eventId: "event-3", record: record(3) },
      { eventId: "event-6", record: record(6) },
      { eventId: "event-6", record: record(6) },
    ]);
    expect(result.duplicates).toEqual(["event-3", "event-6"]);
    expect(result.appended.map((e) => e.seq)).toEqual([6]);
    expect(await verify()).toMatchObject({ ok: true, count: 6 });
  });

  test("concurrent appends stay one chain", async () => {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        appendEntries(tdb.db, [{ eventId: `parallel-${i}`, record: record(10 + i) }]),
      ),
    );
    expect(await verify()).toMatchObject({ ok: true, count: 13 });
  });

  test("a changed field is named", async () => {
    await tdb.db.execute(sql`update audit_entries set reason = 'nothing to see' where seq = 3`);
    expect(await verify()).toMatchObject({ ok: false, seq: 3, problem: "changed", checked: 2 });
  });

  test("a changed number inside the data is named", async () => {
    await tdb.db.execute(sql`update audit_entries set data = jsonb_set(data, '{p95Ms}', '80') where seq = 4`);
    expect(await verify()).toMatchObject({ ok: false, seq: 4, problem: "changed" });
  });

  test("a removed entry is named", async () => {
    await tdb.db.execute(sql`delete from audit_entries where seq = 2`);
    expect(await verify()).toMatchObject({ ok: false, seq: 2, problem: "removed", checked: 1 });
  });

  test("a removed entry with the rest renumbered is named", async () => {
    await tdb.db.execute(sql`delete from audit_entries where seq = 2`);
    await tdb.db.execute(sql`update audit_entries set seq = seq - 1 where seq > 2`);
    await tdb.db.execute(sql`update audit_head set seq = seq - 1`);
    expect(await verify()).toMatchObject({ ok: false, seq: 2, problem: "removed" });
  });

  test("the newest entry removed is named through the head row", async () => {
    await tdb.db.execute(sql`delete from audit_entries where seq = 5`);
    expect(await verify()).toMatchObject({ ok: false, seq: 5, problem: "removed", checked: 4 });
  });

  test("two swapped entries are named", async () => {
    await tdb.db.execute(sql`update audit_entries set seq = -1 where seq = 3`);
    await tdb.db.execute(sql`update audit_entries set seq = 3 where seq = 4`);
    await tdb.db.execute(sql`update audit_entries set seq = 4 where seq = -1`);
    const result = await verify();
    expect(result).toMatchObject({ ok: false, seq: 3, problem: "reordered" });
    expect(result.ok ? "" : result.detail).toContain("after entry 4");
  });

  test("a rewritten entry with its own hash recomputed is caught at the next link", async () => {
    // Someone who knows the scheme rewrites entry 2 and its hash; entry 3 still names the old one.
    await tdb.db.execute(
      sql`update audit_entries set reason = 'rewritten', hash = md5('x') || md5('y') where seq = 2`,
    );
    expect(await verify()).toMatchObject({ ok: false, seq: 2, problem: "changed" });
  });
});
