import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { codes, codesSpec } from "@dash/reference";
import {
  createNatsClient,
  deleteNamespace,
  ensureStreams,
  type NatsClient,
  outbox,
  streamNames,
  subjectOf,
} from "@fig/events";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import { eq } from "drizzle-orm";
import {
  createDatasyncState,
  type DatasyncState,
  type FlipOptions,
  flipWriteOwner,
  type GatewayAdmin,
} from "../src/index.ts";
import {
  codeRows,
  createSides,
  NATS_URL,
  putRows,
  REFERENCE_ROUTE,
  resetSide,
  type Sides,
  uniqueNamespace,
} from "./helpers.ts";

// The write-ownership flip without a gateway process: its admin API is the one seam (GatewayAdmin), played by a
// recorder; the drain, verify, reverse follower and records run against real Postgres and real NATS.
const namespace = uniqueNamespace();
const stream = streamNames(namespace).events;
let sides: Sides;
let nats: NatsClient;
let state: DatasyncState;

beforeAll(async () => {
  sides = await createSides("ds_flip");
  nats = createNatsClient({ servers: NATS_URL, name: "datasync-flip-test" });
  await ensureStreams(await nats.manager(), namespace);
  state = createDatasyncState(nats, namespace);
});
afterAll(async () => {
  if (nats) await deleteNamespace(await nats.manager(), namespace).catch(() => {});
  await nats?.close();
  await sides?.drop();
});
beforeEach(async () => {
  await resetSide(sides.owner.db);
  await resetSide(sides.candidate.db);
  await putRows(sides.owner.db, codesSpec, codeRows(3));
  await putRows(sides.candidate.db, codesSpec, codeRows(3));
});

type Call = { call: "hold" | "release" | "setWriteOwner"; why: string; owner?: string };

/**
 * The gateway's admin API as the flip sees it. `held` is the gateway's running count of writes it has held: the
 * flip reports the writes held during its own hold as the difference between release and hold.
 */
function recordingGateway({ heldBefore = 0, heldDuring = 0, refuseOwner = false } = {}) {
  const calls: Call[] = [];
  let owner = "monolith";
  const view = (held: number) => ({
    drained: true,
    inFlight: 0,
    stats: { held, rejected: 0, longestHeldMs: 0 },
  });
  const gateway: GatewayAdmin = {
    writeOwner: async () => owner,
    hold: async (_route, _holdMs, why) => {
      calls.push({ call: "hold", why });
      return view(heldBefore);
    },
    release: async (_route, why) => {
      calls.push({ call: "release", why });
      return view(heldBefore + heldDuring);
    },
    setWriteOwner: async (_route, writeOwner, why) => {
      calls.push({ call: "setWriteOwner", why, owner: writeOwner });
      if (refuseOwner) throw new Error("gateway PUT /_fig/routes/reference-data/write-owner: HTTP 409");
      owner = writeOwner;
      return {};
    },
  };
  return { gateway, calls, owner: () => owner };
}

/**
 * Each test names its own route and followers, so no record or consumer is shared between tests. The follower
 * starts at the stream's end: it has applied everything before (another test's events are not its backlog).
 */
async function followersFor(label: string) {
  const followers = { monolith: `${label}-ref-follows-mono`, "reference-data": `${label}-mono-follows-ref` };
  await (await nats.manager()).consumers.add(stream, {
    durable_name: followers.monolith,
    filter_subject: subjectOf(namespace, "reference.changed", "monolith"),
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
  });
  return followers;
}

async function flip(label: string, gateway: GatewayAdmin, options: Partial<FlipOptions> = {}) {
  const followers = options.followers ?? (await followersFor(label));
  return flipWriteOwner({
    route: label,
    owner: { name: "monolith", db: sides.owner.db },
    candidate: { name: "reference-data", db: sides.candidate.db },
    tables: REFERENCE_ROUTE.tables,
    followers,
    gateway,
    nats,
    namespace,
    event: REFERENCE_ROUTE.event,
    state,
    holdMs: 2000,
    drainTimeoutMs: 10_000,
    ...options,
  });
}

describe("flipWriteOwner", () => {
  test("drained, equal sides flip: hold, switch the owner, release to the new owner, in that order", async () => {
    const g = recordingGateway({ heldBefore: 4, heldDuring: 3 });
    const result = await flip("ok", g.gateway);
    expect(result).toMatchObject({
      outcome: "flipped",
      reason: null,
      from: "monolith",
      to: "reference-data",
    });
    expect(g.calls.map((c) => c.call)).toEqual(["hold", "setWriteOwner", "release"]);
    expect(g.owner()).toBe("reference-data");
    expect(g.calls[2]?.why).toContain("writes released to reference-data");
    expect(result.heldWrites).toBe(3);
    expect(result.tables).toEqual([
      { table: "codes", count: 3, equal: true },
      { table: "contexts", count: 0, equal: true },
      { table: "establishments", count: 0, equal: true },
      { table: "rules", count: 0, equal: true },
    ]);
    const recorded = await state.route("ok");
    expect(recorded.lastVerify?.ok).toBe(true);
    expect(recorded.flips.map((f) => [f.outcome, f.from, f.to, f.heldWrites])).toEqual([
      ["flipped", "monolith", "reference-data", 3],
    ]);
  });

  test("the new owner's follower is created at the stream's end, so the candidate's history is not replayed", async () => {
    const g = recordingGateway();
    await flip("reverse", g.gateway);
    const info = await (await nats.manager()).consumers.info(stream, "reverse-mono-follows-ref");
    expect(info.config.deliver_policy).toBe(DeliverPolicy.New);
    expect(info.config.filter_subject).toBe(subjectOf(namespace, "reference.changed", "reference-data"));
  });

  test("a row that differs refuses the flip: the owner stays, writes go back to it, the key is named", async () => {
    await sides.candidate.db.update(codes).set({ description: "drifted" }).where(eq(codes.code, "10001"));
    const g = recordingGateway();
    const result = await flip("mismatch", g.gateway);
    expect(result.outcome).toBe("refused");
    expect(result.reason).toBe("verify failed: codes 3 MISMATCH, contexts 0, establishments 0, rules 0");
    expect(g.calls.map((c) => c.call)).toEqual(["hold", "release"]);
    expect(g.owner()).toBe("monolith");
    expect(g.calls[1]?.why).toContain("writes released to monolith");
    expect(result.verify.tables[0]?.differences).toEqual([{ key: "10001", kind: "different" }]);
    const recorded = await state.route("mismatch");
    expect(recorded.lastVerify?.ok).toBe(false);
    expect(recorded.flips.map((f) => f.outcome)).toEqual(["refused"]);
    // No reverse follower: nothing flipped.
    expect(
      await (await nats.manager()).consumers.info(stream, "mismatch-mono-follows-ref").catch(() => null),
    ).toBe(null);
  });

  test("an owner event not yet published refuses the flip when the drain times out, before any verify", async () => {
    await sides.owner.db.insert(outbox).values({
      id: crypto.randomUUID(),
      type: "reference.changed",
      source: "monolith",
      data: { table: "codes", op: "updated", keys: ["10000"], count: 1, truncated: false },
    });
    const g = recordingGateway();
    const result = await flip("outbox", g.gateway, { drainTimeoutMs: 300 });
    expect(result.outcome).toBe("refused");
    expect(result.reason).toStartWith("the sync did not drain in time (outbox 1,");
    expect(result.verify).toMatchObject({ ok: false, tables: [] });
    expect(g.calls.map((c) => c.call)).toEqual(["hold", "release"]);
  });

  test("an event published but not yet applied by the follower refuses the flip too", async () => {
    const followers = await followersFor("backlog");
    const js = await nats.jetstream();
    await js.publish(subjectOf(namespace, "reference.changed", "monolith"), "{}", {
      msgID: crypto.randomUUID(),
    });
    const g = recordingGateway();
    const result = await flip("backlog", g.gateway, { drainTimeoutMs: 300, followers });
    expect(result.outcome).toBe("refused");
    expect(result.reason).toMatch(/stream pending [1-9]/);
    expect(g.owner()).toBe("monolith");
  });

  test("a gateway that refuses the owner switch refuses the flip, and the writes are released to the old owner", async () => {
    const g = recordingGateway({ refuseOwner: true });
    const result = await flip("refused-switch", g.gateway);
    expect(result.outcome).toBe("refused");
    expect(result.reason).toStartWith("could not switch the write owner: gateway PUT");
    expect(g.calls.map((c) => c.call)).toEqual(["hold", "setWriteOwner", "release"]);
    expect(g.calls[2]?.why).toContain("writes released to monolith");
  });
});
