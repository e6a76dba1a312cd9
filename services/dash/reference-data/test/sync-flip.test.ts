import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { codes } from "@dash/reference";
import { destroyNamespaceState, followerBacklog } from "@fig/datasync";
import { rowsOf } from "@fig/db";
import { createNatsClient, deleteNamespace, type NatsClient } from "@fig/events";
import { createTestAuth, createTestDatabase, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { eq, sql } from "drizzle-orm";
import { codeInput } from "./helpers.ts";
import {
  compareSides,
  converged,
  MONOLITH_MIGRATIONS,
  REFERENCE_MIGRATIONS,
  uniqueNamespace,
  until,
} from "./sync-helpers.ts";
import {
  type CliRun,
  commonEnv,
  freePort,
  migrateData,
  migrateDataProcess,
  promoteCli,
  type Service,
  startService,
} from "./sync-processes.ts";

// Data during the migration, end to end: the gateway, the monolith and reference-data as real processes on
// fresh databases and their own namespace; `bun run migrate-data` as the operator runs it.
const namespace = uniqueNamespace("flip");
const auth = createTestAuth();
const requiresServer = "three service processes share these databases";
let mono: TestDatabase;
let ref: TestDatabase;
let nats: NatsClient;
let gateway: Service;
let monolith: Service;
let referenceData: Service;
let env: Record<string, string>;
let editor: string;
let admin: string;

beforeAll(async () => {
  mono = await createTestDatabase({
    service: "monolith",
    migrationsFolder: MONOLITH_MIGRATIONS,
    requiresServer,
  });
  ref = await createTestDatabase({
    service: "reference-data",
    migrationsFolder: REFERENCE_MIGRATIONS,
    requiresServer,
  });
  nats = createNatsClient({ servers: TEST_NATS_URL, name: "sync-flip-test" });
  editor = await auth.token({ roles: ["editor"], sub: "writer" });
  // The gateway's /_fig admits operators (role operator in the operator tenant); admin for a gateway that asks it.
  admin = await auth.token({ roles: ["operator", "admin"], tenant: "platform", sub: "operator" });
  const base = commonEnv(namespace);
  const [gp, mp, rp] = [freePort(), freePort(), freePort()];
  const urls = {
    MONOLITH_URL: `http://127.0.0.1:${mp}`,
    REFERENCE_DATA_URL: `http://127.0.0.1:${rp}`,
    VALIDATION_URL: "http://127.0.0.1:9",
  };
  monolith = await startService("monolith", mp, { ...base, ...urls, DATABASE_URL: mono.url as string });
  referenceData = await startService("reference-data", rp, {
    ...base,
    ...urls,
    DATABASE_URL: ref.url as string,
  });
  gateway = await startService("gateway", gp, { ...base, ...urls, RATE_LIMIT_PER_MINUTE: "1000000" });
  env = {
    ...base,
    MONOLITH_DATABASE_URL: mono.url as string,
    REFERENCE_DATA_DATABASE_URL: ref.url as string,
    GATEWAY_URL: gateway.url,
    MIGRATE_BATCH: "40",
  };
}, 120_000);

afterAll(async () => {
  for (const s of [gateway, referenceData, monolith]) await s?.stop().catch(() => {});
  const jsm = await nats.manager();
  // Streams and every bucket of the namespace (routes, datasync, and the promotions the flip records).
  await deleteNamespace(jsm, namespace).catch(() => {});
  await destroyNamespaceState(nats, namespace).catch(() => {});
  await nats?.close();
  await mono?.drop();
  await ref?.drop();
});

async function api(path: string, init: RequestInit & { json?: unknown; token?: string } = {}) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${init.token ?? editor}`);
  if (init.json !== undefined) headers.set("content-type", "application/json");
  return fetch(`${gateway.url}${path}`, {
    ...init,
    headers,
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  });
}

const ownerAtGateway = async () => {
  const res = await api("/_fig/routes", { token: admin });
  const { routes } = (await res.json()) as { routes: { id: string; writeOwner: string }[] };
  return routes.find((r) => r.id === "reference-data")?.writeOwner;
};

type HistoryEntry = { at: string; what: string; to: unknown; why: string | null };
const routeHistory = async () =>
  (
    (await (await api("/_fig/routes/reference-data/history", { token: admin })).json()) as {
      history: HistoryEntry[];
    }
  ).history;

/**
 * Brings the route to what the tests before leave behind, so a test also runs alone: both sides equal
 * (a backfill from the current owner when they differ), then `owner` owning the writes (a flip when it does not).
 */
async function ownerWithSidesEqual(owner: "monolith" | "reference-data") {
  const current = await ownerAtGateway();
  const [from, to] = current === "monolith" ? [mono, ref] : [ref, mono];
  if (!(await compareSides(from.db, to.db)).equal) {
    const backfill = await migrateData(["backfill", "reference-data"], env);
    expect({ code: backfill.code, stderr: backfill.stderr }).toMatchObject({ code: 0 });
  }
  if (current === owner) return;
  await until("the sync to have nothing pending or unacked", async () => {
    const backlog = await followerBacklog(
      nats,
      namespace,
      current === "monolith" ? "reference-data-reference-sync" : "monolith-reference-sync",
    );
    return backlog.pending === 0 && backlog.ackPending === 0 ? true : undefined;
  });
  const flip = await migrateData(["flip", "reference-data"], env);
  expect({ code: flip.code, stdout: flip.stdout }).toMatchObject({ code: 0 });
  expect(await ownerAtGateway()).toBe(owner);
}

type Write = { seq: number; lane: number; method: string; status?: number; servedBy?: string | null };

/**
 * `migrate-data flip` with its write hold kept in place until every writer lane waits in it: a lock on
 * reference-data's rules (which the writer never changes, so the sync's apply never waits for it) stalls the
 * flip's verify, inside the hold, until then. Returns the run and the writes sent while the hold was in place.
 */
async function flipWithLanesHeld(writes: Write[], lanes: number) {
  const unlock = Promise.withResolvers<void>();
  const locked = Promise.withResolvers<void>();
  const lock = ref.db.transaction(async (tx) => {
    await tx.execute(sql`lock table rules in access exclusive mode`);
    locked.resolve();
    await unlock.promise;
  });
  let flipping: Promise<CliRun> | undefined;
  // Writes numbered [seenAt, unlockedAt) were sent while the hold was in place and the lock kept it there.
  let seenAt = -1;
  let unlockedAt = -1;
  try {
    await Promise.race([locked.promise, lock]);
    const flipStarted = new Date().toISOString();
    let flipDone = false;
    const run = migrateDataProcess(["flip", "reference-data", "--json", "--hold-ms", "20000"], env);
    flipping = Promise.all([new Response(run.proc.stdout as ReadableStream).text(), run.proc.exited])
      .then(([stdout, code]) => ({ code, stdout, stderr: run.stderr() }))
      .finally(() => {
        flipDone = true;
      });
    // The latest write-hold entry is this flip's hold, not yet released: the gateway holds writes from here on.
    seenAt = await until("the flip's write hold at the gateway", async () => {
      if (flipDone)
        throw new Error(`the flip ended before its hold was seen: ${JSON.stringify(await flipping)}`);
      const last = (await routeHistory()).filter((h) => h.what === "write-hold").at(-1);
      return last && last.to !== null && last.at >= flipStarted ? writes.length : undefined;
    });
    // The hold's setter has answered (the writes forwarded before it are done) and every lane waits on a write.
    await until("every lane to wait in the hold", async () => {
      const waiting = new Set(writes.filter((w) => w.status === undefined).map((w) => w.lane));
      return run.stderr().includes("writes in flight before the hold: answered") && waiting.size === lanes
        ? true
        : undefined;
    });
  } finally {
    unlockedAt = writes.length;
    unlock.resolve();
    await lock;
  }
  return { flip: await flipping, intoHold: writes.slice(seenAt, unlockedAt) };
}

describe("backfill, live sync and the write-ownership flip", () => {
  test("backfill killed with -9 mid-way resumes from its checkpoint and ends equal on both sides", async () => {
    // The live sync is running too (it replays the monolith's seed events): both converge on the same rows.
    const run = migrateDataProcess(["backfill", "reference-data"], env);
    await run.killWhen(/codes: \d+\/\d+ rows/);
    const again = await migrateData(["backfill", "reference-data", "--json"], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("resumed");
    const out = JSON.parse(again.stdout) as {
      verify: { ok: boolean; tables: { table: string; owner: { count: number } }[] };
    };
    expect(out.verify.ok).toBe(true);
    expect(out.verify.tables.find((t) => t.table === "codes")?.owner.count).toBeGreaterThan(300);
    expect((await compareSides(mono.db, ref.db)).equal).toBe(true);
  }, 120_000);

  test("the sync consumer killed with -9 mid-stream converges after a restart; verify passes", async () => {
    const writes: Promise<Response>[] = [];
    for (let i = 0; i < 40; i++)
      writes.push(api("/api/codes", { method: "POST", json: codeInput(String(81000 + i)) }));
    // Killed while the changes are arriving (some applied, some not).
    await until("reference-data to apply some of the writes", async () => {
      const [row] = rowsOf<{ n: number }>(
        await ref.db.execute(sql`select count(*)::int as n from codes where code like '810%'`),
      );
      return (row?.n ?? 0) > 0 ? true : undefined;
    });
    await referenceData.kill9();
    for (const res of await Promise.all(writes)) expect(res.status).toBe(201);
    for (let i = 40; i < 60; i++)
      expect((await api("/api/codes", { method: "POST", json: codeInput(String(81000 + i)) })).status).toBe(
        201,
      );
    await referenceData.restart();
    await converged(mono.db, ref.db);
    const verify = await migrateData(["verify", "reference-data"], env);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain("OK");
    // Messages the killed process had applied but not acked stay "ack pending" until ack_wait (30 s) sends
    // them again; the tests after this one flip, and a flip waits for no unacked message. Wait for that state.
    await until(
      "the restarted follower to ack what the killed one held",
      async () => {
        const backlog = await followerBacklog(nats, namespace, "reference-data-reference-sync");
        return backlog.pending === 0 && backlog.ackPending === 0 ? true : undefined;
      },
      60_000,
    );
  }, 120_000);

  test("a row changed behind the sync's back: verify names it, the flip is refused, ownership unchanged", async () => {
    const [before] = await ref.db.select().from(codes).where(eq(codes.code, "81001"));
    await ref.db
      .update(codes)
      .set({ description: "changed behind the sync's back" })
      .where(eq(codes.code, "81001"));
    const verify = await migrateData(["verify", "reference-data"], env);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(/DIFF codes/);
    expect(verify.stderr).toContain("codes/81001 (different)");
    const flip = await migrateData(["flip", "reference-data"], env);
    expect(flip.code).toBe(1);
    expect(flip.stdout).toContain("REFUSED");
    expect(await ownerAtGateway()).toBe("monolith");
    // Writes were released to the old owner.
    const res = await api("/api/codes", { method: "POST", json: codeInput("81100") });
    expect(res.status).toBe(201);
    expect(res.headers.get("fig-served-by")).toBe("monolith");
    // bun run promote … --flip-writes: the reads reach 100 %, then the flip's verify fails → ownership unchanged,
    // the promotion ends "completed, writes not flipped" with the reason and the flip's numbers in its events.
    const promoteEnv = { ...env, PATH: Bun.env.PATH ?? "", FIG_GATEWAY_URL: gateway.url };
    const promote = await promoteCli(
      ["reference-data", "--to", "reference-data", "--steps", "100", "--step-duration", "2s"].concat([
        "--min-requests",
        "5",
        "--vus",
        "2",
        "--engine",
        "builtin",
        "--flip-writes",
      ]),
      promoteEnv,
    );
    expect(promote.code).toBe(5);
    expect(await ownerAtGateway()).toBe("monolith");
    const status = await promoteCli(["status", "reference-data", "--json"], promoteEnv);
    const record = (
      JSON.parse(status.stdout) as {
        state: string;
        reason: string;
        events: { what: string; detail: string }[];
      }[]
    ).at(-1);
    expect(record?.state).toBe("promoted");
    expect(record?.reason).toStartWith("completed, writes not flipped: verify failed: codes");
    expect(record?.events.at(-1)?.what).toBe("flip-writes");
    expect(record?.events.at(-1)?.detail).toMatch(/refused monolith → reference-data: writes held \d+ ms/);
    await ref.db
      .update(codes)
      .set({ description: before?.description as string })
      .where(eq(codes.code, "81001"));
    await converged(mono.db, ref.db);
  }, 120_000);

  test("a writer keeps creating and updating codes through the gateway during the flip: nothing lost, nothing doubled, held writes counted", async () => {
    await ownerWithSidesEqual("monolith");
    const LANES = 4;
    type Outcome = { code: string; acked: number | null; lastAckedTariff: number | null };
    const writes: Write[] = [];
    const outcomes: Outcome[] = [];
    let stop = false;
    let n = 0;
    const send = async (lane: number, method: string, path: string, init: Parameters<typeof api>[1]) => {
      const w: Write = { seq: writes.length, lane, method };
      writes.push(w);
      const res = await api(path, { ...init, method });
      w.status = res.status;
      w.servedBy = res.headers.get("fig-served-by");
      return res;
    };
    const writer = async (lane: number) => {
      while (!stop) {
        const code = String(70000 + n++); // n is shared: one code per create, whichever lane
        const o: Outcome = { code, acked: null, lastAckedTariff: null };
        outcomes.push(o);
        const created = await send(lane, "POST", "/api/codes", {
          json: codeInput(code, { tariff_cents: 1 }),
        });
        expect(created.status).toBe(201);
        o.acked = 201;
        o.lastAckedTariff = 1;
        for (let t = 2; t <= 3 && !stop; t++) {
          const res = await send(lane, "PATCH", `/api/codes/${code}`, {
            json: { tariff_cents: t },
            headers: { "if-match": "*" },
          });
          expect(res.status).toBe(200);
          o.lastAckedTariff = t;
        }
      }
    };
    const lanes = Array.from({ length: LANES }, (_, lane) => writer(lane));
    // A lane's failure is reported by the Promise.all below, after the writer has been stopped.
    for (const lane of lanes) lane.catch(() => {});
    let flip: CliRun | undefined;
    let intoHold: Write[] = [];
    try {
      await until("the writer to get going", async () => (outcomes.length > 20 ? true : undefined));
      ({ flip, intoHold } = await flipWithLanesHeld(writes, LANES));
      const afterFlip = outcomes.length;
      await until("writes after the flip", async () => (outcomes.length > afterFlip + 20 ? true : undefined));
    } finally {
      // A failure above must not leave the writer running into the next tests.
      stop = true;
      await Promise.allSettled(lanes);
    }
    await Promise.all(lanes);
    expect({ code: flip?.code, stdout: flip?.stdout, stderr: flip?.stderr }).toMatchObject({ code: 0 });
    const result = JSON.parse(flip?.stdout ?? "") as {
      outcome: string;
      heldMs: number;
      heldWrites: number;
      verify: { ok: boolean };
    };
    expect(result.outcome).toBe("flipped");
    expect(result.verify.ok).toBe(true);
    expect(await ownerAtGateway()).toBe("reference-data");

    // What the writer saw: writes sent once the hold was in place were neither refused nor sent to the old
    // owner; they waited and went to the new one. The flip counted the writes it held: at least one (every lane
    // was waiting when the test let go), and at most one per lane (a held write keeps its lane waiting, and
    // none was refused).
    for (const w of intoHold)
      expect({ status: w.status, servedBy: w.servedBy }).toEqual({
        status: w.method === "POST" ? 201 : 200,
        servedBy: "reference-data",
      });
    expect(writes.filter((w) => w.status === 503)).toEqual([]);
    expect(result.heldWrites).toBeGreaterThan(0);
    expect(result.heldWrites).toBeLessThanOrEqual(LANES);

    // Every acknowledged write is on the new owner, with its last acknowledged value.
    const rows = new Map(
      (
        await ref.db
          .select({ code: codes.code, tariff: codes.tariff_cents })
          .from(codes)
          .where(sql`${codes.code} like '7%'`)
      ).map((r) => [r.code, r.tariff]),
    );
    const lost = outcomes.filter((o) => o.acked !== null && rows.get(o.code) !== o.lastAckedTariff);
    expect(lost).toEqual([]);
    expect(outcomes.filter((o) => o.acked !== null).length).toBeGreaterThan(20);

    // The flip is in the route's history with its figures.
    const owner = (await routeHistory()).filter((h) => h.what === "write-owner").at(-1);
    expect(owner?.to).toBe("reference-data");
    expect(owner?.why).toMatch(/migrate-data flip: monolith → reference-data; held \d+ ms .*verify OK/);

    // The reverse sync brings the monolith level with the new owner; verify (now reference-data → monolith) passes.
    await converged(ref.db, mono.db);
    const verify = await migrateData(["verify", "reference-data"], env);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain("verify reference-data (owner) → monolith (candidate): OK");
  }, 180_000);

  test("after the flip, a write on reference-data reaches the monolith; status shows owner, lag and the last verify", async () => {
    await ownerWithSidesEqual("reference-data");
    const res = await api("/api/codes", { method: "POST", json: codeInput("82001", { tariff_cents: 4242 }) });
    expect(res.status).toBe(201);
    expect(res.headers.get("fig-served-by")).toBe("reference-data");
    await until("the monolith to receive reference-data's write", async () => {
      const [row] = await mono.db.select().from(codes).where(eq(codes.code, "82001"));
      return row?.tariff_cents === 4242 ? true : undefined;
    });
    const status = await migrateData(["status", "reference-data", "--json"], env);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout) as {
      owner: string;
      lag: { changes: number };
      lastVerify: { ok: boolean };
      lastFlip: { outcome: string };
    };
    expect(s.owner).toBe("reference-data");
    expect(s.lag.changes).toBeGreaterThan(0);
    expect(s.lastVerify.ok).toBe(true);
    expect(s.lastFlip.outcome).toBe("flipped");
  }, 60_000);

  test("a write held past the hold's deadline is answered 503 and never applied, on either side", async () => {
    const hold = (method: "PUT" | "DELETE", json: unknown) =>
      api("/_fig/routes/reference-data/write-hold", { method, json, token: admin });
    const held = await hold("PUT", { holdMs: 300, reason: "test: a hold that outlives its deadline" });
    expect(held.status).toBe(200);
    const before = ((await held.json()) as { stats: { rejected: number } }).stats.rejected;
    let refused: Response;
    let rejected: number;
    try {
      refused = await api("/api/codes", { method: "POST", json: codeInput("83001") });
    } finally {
      const released = await hold("DELETE", { reason: "test: released" });
      rejected = ((await released.json()) as { stats: { rejected: number } }).stats.rejected;
    }
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    // The gateway answered exactly the one 503 the writer saw.
    expect(rejected - before).toBe(1);

    // A write after it goes through and reaches the other side; the refused one is on neither.
    const after = await api("/api/codes", { method: "POST", json: codeInput("83002") });
    expect(after.status).toBe(201);
    const has = async (db: TestDatabase, code: string) =>
      (await db.db.select({ code: codes.code }).from(codes).where(eq(codes.code, code))).length === 1;
    await until("83002 on both sides", async () =>
      (await has(mono, "83002")) && (await has(ref, "83002")) ? true : undefined,
    );
    expect({ monolith: await has(mono, "83001"), referenceData: await has(ref, "83001") }).toEqual({
      monolith: false,
      referenceData: false,
    });
  }, 60_000);
});
