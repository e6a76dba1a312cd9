import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type AuditRecord, appendEntries } from "@fig/audit";
import type { Role } from "@fig/auth";
import { createTestAuth, createTestDatabase, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";
import { buildApp } from "../src/app.ts";
import { MIGRATIONS, silent } from "./helpers.ts";

let tdb: TestDatabase;
let app: ReturnType<typeof buildApp>;
const auth = createTestAuth();
const operator = () => auth.token({ sub: "olivia", tenant: "platform", roles: ["operator"] });

function record(n: number, actor: string, kind: string, subject: string): AuditRecord {
  return {
    at: new Date(Date.UTC(2026, 11, 7, 8, n)).toISOString(),
    actor: { sub: actor, tenant: "platform" },
    kind,
    subject,
    from: { n: n - 1 },
    to: { n },
    reason: `act ${n}`,
    data: null,
  };
}

beforeAll(async () => {
  tdb = await createTestDatabase({ service: "audit-entries", migrationsFolder: MIGRATIONS });
  app = buildApp({ db: tdb.db, verifier: auth.verifier, operatorTenant: "platform", logger: silent });
  // Eight acts: alice and bob, on two routes, at minutes 1..8.
  const acts: [string, string, string][] = [
    ["alice", "weights", "validation"],
    ["bob", "state", "validation"],
    ["alice", "weights", "reference-data"],
    ["alice", "write-owner", "reference-data"],
    ["bob", "weights", "validation"],
    ["alice", "weights", "validation"],
    ["bob", "shadow", "reference-data"],
    ["alice", "weights", "validation"],
  ];
  await appendEntries(
    tdb.db,
    acts.map(([actor, kind, subject], i) => ({
      eventId: `e${i + 1}`,
      record: record(i + 1, actor, kind, subject),
    })),
  );
});
afterAll(() => tdb.drop());

async function get(query: string, token?: string) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return app.request(`/api/audit/entries${query}`, { headers });
}

async function seqs(query: string): Promise<number[]> {
  const res = await get(query, await operator());
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: { seq: number }[] }).items.map((e) => e.seq);
}

describe("GET /api/audit/entries", () => {
  test("newest first, filtered by actor, route, kind and time", async () => {
    expect(await seqs("")).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    expect(await seqs("?actor=bob")).toEqual([7, 5, 2]);
    expect(await seqs("?route=reference-data")).toEqual([7, 4, 3]);
    expect(await seqs("?kind=weights&route=validation")).toEqual([8, 6, 5, 1]);
    expect(await seqs("?from=2026-12-07T08:03:00Z&to=2026-12-07T08:06:00Z")).toEqual([5, 4, 3]);
  });

  test("pages follow the cursor to the end, each entry once", async () => {
    const token = await operator();
    const seen: number[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res = await get(`?actor=alice&limit=2${cursor ? `&cursor=${cursor}` : ""}`, token);
      const page = (await res.json()) as { items: { seq: number }[]; nextCursor: string | null };
      seen.push(...page.items.map((e) => e.seq));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen).toEqual([8, 6, 4, 3, 1]);
    expect(pages).toBe(3);
  });

  test("an entry carries who, what, from, to, why and its hashes", async () => {
    const res = await get("?limit=1", await operator());
    const [entry] = ((await res.json()) as { items: Record<string, unknown>[] }).items;
    expect(entry).toMatchObject({
      seq: 8,
      eventId: "e8",
      actor: { sub: "alice", tenant: "platform" },
      kind: "weights",
      subject: "validation",
      from: { n: 7 },
      to: { n: 8 },
      reason: "act 8",
    });
    expect(entry?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  test("a bad cursor or time is a 400 naming the field", async () => {
    const token = await operator();
    const bad = await get("?cursor=nope", token);
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain("query.cursor");
    expect((await get("?from=yesterday", token)).status).toBe(400);
  });

  const refusals: [string, () => Promise<string | undefined>, number][] = [
    ["no token", async () => undefined, 401],
    ["an expired token", async () => (await auth.invalidTokens()).expired, 401],
    ["a token of another key", async () => (await auth.invalidTokens()).foreignKey, 401],
    ["a tenant viewer", () => auth.token({ tenant: "acme", roles: ["viewer"] }), 403],
    ["a tenant admin", () => auth.token({ tenant: "acme", roles: ["admin"] }), 403],
    ["an admin of the operator tenant", () => auth.token({ tenant: "platform", roles: ["admin"] }), 403],
    [
      "role operator in another tenant",
      () => auth.token({ tenant: "acme", roles: ["operator" as Role] }),
      403,
    ],
  ];
  for (const [who, token, status] of refusals) {
    test(`${who} is refused (${status}) on the list and on verify`, async () => {
      const t = await token();
      expect((await get("", t)).status).toBe(status);
      const headers: Record<string, string> = t ? { authorization: `Bearer ${t}` } : {};
      expect((await app.request("/api/audit/verify", { headers })).status).toBe(status);
    });
  }

  test("verify answers for the operator and names an edited row", async () => {
    const headers = { authorization: `Bearer ${await operator()}` };
    expect(await (await app.request("/api/audit/verify", { headers })).json()).toEqual({
      ok: true,
      count: 8,
    });
    await tdb.db.execute(sql`update audit_entries set actor_sub = 'nobody' where seq = 6`);
    try {
      const body = await (await app.request("/api/audit/verify", { headers })).json();
      expect(body).toMatchObject({ ok: false, seq: 6, problem: "changed" });
    } finally {
      await tdb.db.execute(sql`update audit_entries set actor_sub = 'alice' where seq = 6`);
    }
  });
});
