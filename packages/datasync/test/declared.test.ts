import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { devScriptEnv } from "@fig/auth";
import { type Database, rowsOf } from "@fig/db";
import {
  createNatsClient,
  createOutboxRelay,
  deleteNamespace,
  ensureStreams,
  type NatsClient,
  type OutboxRelay,
} from "@fig/events";
import { parseRouteFile } from "@fig/route-file";
import { createLogger } from "@fig/service";
import { createTestDatabase, TEST_NATS_URL, type TestDatabase } from "@fig/testing";
import { type SQL, sql } from "drizzle-orm";
import {
  backfill,
  createChangeRecorder,
  createDatasyncState,
  createLiveSync,
  type DataRoute,
  dataRouteOf,
  destroyNamespaceState,
  flipWriteOwner,
  formatVerify,
  type GatewayAdmin,
  KEY_SEPARATOR,
  type LiveSync,
  type Row,
  verifySides,
} from "../src/index.ts";
import { keysNamed, outboxEvents } from "./helpers.ts";

// Data sync of a system that is not Dash, driven only by its route file's fig.data: a clinic's patients
// (uuid key, integer version) and appointments (composite key clinic_id + slot, updated_at only), on two fresh
// real Postgres databases (the legacy owner and the new scheduling service) and real NATS in a namespace of
// this file. The steps run in order: backfill, then the live sync from the owner's outbox, then verify, then
// the flip's verify gate.
const ROUTE_FILE = fileURLToPath(new URL("./fixture/clinic.yaml", import.meta.url));
const MIGRATIONS = fileURLToPath(new URL("./fixture/drizzle", import.meta.url));
const route: DataRoute = dataRouteOf(
  parseRouteFile(readFileSync(ROUTE_FILE, "utf8"), ROUTE_FILE),
  "scheduling",
);
const [LEGACY, SCHEDULING] = route.sides;
const namespace = `dsdecl${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
const silent = createLogger({ service: "datasync-declared-test", level: "silent" });

let owner: TestDatabase;
let candidate: TestDatabase;
let nats: NatsClient;
let relay: OutboxRelay;
let sync: LiveSync | undefined;
const record = createChangeRecorder({ source: LEGACY, tables: route.tables, event: route.event });

beforeAll(async () => {
  const requiresServer = "two databases synced across connections";
  owner = await createTestDatabase({
    service: "ds_clinic_owner",
    migrationsFolder: MIGRATIONS,
    requiresServer,
  });
  candidate = await createTestDatabase({
    service: "ds_clinic_candidate",
    migrationsFolder: MIGRATIONS,
    requiresServer,
  });
  nats = createNatsClient({ servers: TEST_NATS_URL, name: "datasync-declared-test" });
  await ensureStreams(await nats.manager(), namespace);
  relay = createOutboxRelay({ database: owner, nats, namespace, logger: silent, pollIntervalMs: 50 });
  await relay.start();
});

afterAll(async () => {
  await sync?.stop();
  await relay?.stop();
  if (nats) {
    await destroyNamespaceState(nats, namespace).catch(() => {});
    await deleteNamespace(await nats.manager(), namespace).catch(() => {});
    await nats.close();
  }
  await owner?.drop();
  await candidate?.drop();
});

/** Polls `probe` until it returns a value other than undefined; at the deadline fails naming `what`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 60_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

const rowOf = ({ r }: { r: Row | string }) => (typeof r === "string" ? (JSON.parse(r) as Row) : r);

/** A write on the owner as the legacy app makes it: the statement (returning to_jsonb) and its event, one transaction. */
function ownerWrite(table: string, op: "created" | "updated" | "deleted", statement: SQL) {
  return owner.db.transaction(async (txAny) => {
    const tx = txAny as unknown as Database;
    const rows = rowsOf<{ r: Row | string }>(await tx.execute(statement)).map(rowOf);
    await record(tx, { table, op, rows });
  });
}

const sides = () => ({
  owner: { name: LEGACY, db: owner.db },
  candidate: { name: SCHEDULING, db: candidate.db },
});
const verify = () => verifySides({ ...sides(), tables: route.tables });
const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
const appointment = (db: Database, clinic: string, slot: number) =>
  db
    .execute(sql`select to_jsonb(a) as r from appointments a where clinic_id = ${clinic} and slot = ${slot}`)
    .then((res) => rowsOf<{ r: Row | string }>(res).map(rowOf)[0]);

describe("a route's declared tables, not Dash's", () => {
  test("the route file's fig.data is all the sync knows: tables, keys, version columns, defaults", () => {
    expect(route.event).toBe("data.changed");
    expect(route.tables.map((t) => [t.name, t.key, t.version ?? t.updatedAt])).toEqual([
      ["patients", ["id"], "version"],
      ["appointments", ["clinic_id", "slot"], "updated_at"],
    ]);
    expect(route.consumers).toEqual({
      [LEGACY]: "scheduling-scheduling-sync",
      [SCHEDULING]: "clinic-legacy-scheduling-sync",
    });
  });

  test("backfill copies both tables page by page (composite keyset pages too) and both sides verify equal", async () => {
    await owner.db.execute(sql`
      insert into patients (id, name, birth_date, allergies, version)
      select ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'Patient ' || i,
        date '1980-01-01' + i, jsonb_build_array('latex'), 1 + i % 3
      from generate_series(1, 7) as i`);
    // Two clinics × 4 slots: a page of 3 ends inside a clinic, so the next page starts mid-key.
    await owner.db.execute(sql`
      insert into appointments (clinic_id, slot, patient_id, reason, updated_at)
      select c, s, ('00000000-0000-4000-8000-' || lpad(s::text, 12, '0'))::uuid, 'check-up ' || c || s,
        timestamptz '2026-03-01 09:00:00.123456+00' + make_interval(mins => s)
      from unnest(array['north', 'south']) as c, generate_series(1, 4) as s`);
    // The new service has a column of its own: rows copied from the owner take its default.
    await candidate.db.execute(
      sql`alter table patients add column portal_enabled boolean not null default false`,
    );
    // A candidate row the owner does not have: backfill removes it.
    await candidate.db.execute(
      sql`insert into appointments (clinic_id, slot, patient_id, reason) values ('east', 1, ${uuid(1)}, 'stale')`,
    );
    const before = await verify();
    expect(before.ok).toBe(false);

    const result = await backfill({
      route: route.id,
      ...sides(),
      tables: route.tables,
      event: route.event,
      state: createDatasyncState(nats, namespace),
      batch: 3,
    });
    expect(result.tables.map((t) => [t.table, t.rows, t.written])).toEqual([
      ["patients", 7, 7],
      ["appointments", 8, 8],
    ]);
    expect(result.tables.find((t) => t.table === "appointments")?.deleted).toBe(1);
    const after = await verify();
    expect(after.ok).toBe(true);
    expect(after.tables.map((t) => [t.table, t.owner.count, t.candidate.count])).toEqual([
      ["patients", 7, 7],
      ["appointments", 8, 8],
    ]);
    const [portal] = rowsOf<{ n: number }>(
      await candidate.db.execute(sql`select count(*)::int as n from patients where not portal_enabled`),
    );
    expect(portal?.n).toBe(7);
    // The copy is exact: microseconds and jsonb included.
    expect(await appointment(candidate.db, "south", 3)).toEqual(await appointment(owner.db, "south", 3));
    // What it wrote is the candidate's own data.changed (its outbox), composite keys joined by U+001F.
    const events = await outboxEvents(candidate.db);
    expect(new Set(events.map((e) => `${e.type} ${e.source}`))).toEqual(
      new Set([`data.changed ${SCHEDULING}`]),
    );
    expect(keysNamed(events, "appointments", "deleted")).toEqual([`east${KEY_SEPARATOR}1`]);
    expect(keysNamed(events, "appointments", "imported")).toHaveLength(8);
    expect(keysNamed(events, "appointments", "imported")).toContain(`south${KEY_SEPARATOR}3`);
    expect(keysNamed(events, "patients", "imported")).toEqual([...Array(7)].map((_, i) => uuid(i + 1)));
  });

  test("the owner's creates, updates and deletes reach the candidate through its outbox and data.changed", async () => {
    sync = createLiveSync({
      name: route.consumers[LEGACY] as string,
      origin: LEGACY,
      event: route.event,
      tables: route.tables,
      database: candidate,
      nats,
      namespace,
      logger: silent,
    });
    await sync.start();
    await ownerWrite(
      "patients",
      "created",
      sql`insert into patients (id, name, version) values (${uuid(100)}, 'New patient', 1) returning to_jsonb(patients.*) as r`,
    );
    await ownerWrite(
      "patients",
      "updated",
      sql`update patients set name = 'Renamed', version = version + 1 where id = ${uuid(2)} returning to_jsonb(patients.*) as r`,
    );
    await ownerWrite(
      "appointments",
      "updated",
      sql`update appointments set reason = 'moved', updated_at = clock_timestamp() where clinic_id = 'north' and slot = 2 returning to_jsonb(appointments.*) as r`,
    );
    // Two writes of one key inside a millisecond still order: updated_at is compared to the microsecond.
    await ownerWrite(
      "appointments",
      "created",
      sql`insert into appointments (clinic_id, slot, patient_id, reason, updated_at) values ('north', 9, ${uuid(100)}, 'first', '2026-03-02 10:00:00.000001+00') returning to_jsonb(appointments.*) as r`,
    );
    await ownerWrite(
      "appointments",
      "updated",
      sql`update appointments set reason = 'second', updated_at = '2026-03-02 10:00:00.000002+00' where clinic_id = 'north' and slot = 9 returning to_jsonb(appointments.*) as r`,
    );
    await ownerWrite(
      "appointments",
      "deleted",
      sql`delete from appointments where clinic_id = 'south' and slot = 4 returning to_jsonb(appointments.*) as r`,
    );
    const equal = await until("the candidate to apply the owner's changes", async () =>
      (await verify()).ok ? true : undefined,
    );
    expect(equal).toBe(true);
    expect((await appointment(candidate.db, "north", 2))?.reason).toBe("moved");
    expect((await appointment(candidate.db, "north", 9))?.reason).toBe("second");
    expect(await appointment(candidate.db, "south", 4)).toBeUndefined();
    const [renamed] = rowsOf<{ name: string; version: number }>(
      await candidate.db.execute(sql`select name, version from patients where id = ${uuid(2)}`),
    );
    expect(renamed).toEqual({ name: "Renamed", version: 4 });
    // Each key's watermark: the composite key as its columns' text, joined.
    const [mark] = rowsOf<{ key: string }>(
      await candidate.db.execute(
        sql`select key from sync_keys where origin = ${LEGACY} and table_name = 'appointments' and key like 'north%9'`,
      ),
    );
    expect(mark?.key).toBe(`north${KEY_SEPARATOR}9`);
  });

  test("verify names a row changed on one side by its composite key; restoring it passes again", async () => {
    await candidate.db.execute(
      sql`update appointments set reason = 'edited behind the sync' where clinic_id = 'south' and slot = 1`,
    );
    const mismatch = await verify();
    expect(mismatch.ok).toBe(false);
    const appointments = mismatch.tables.find((t) => t.table === "appointments");
    expect(appointments?.differences).toEqual([{ key: `south${KEY_SEPARATOR}1`, kind: "different" }]);
    expect(mismatch.tables.find((t) => t.table === "patients")?.equal).toBe(true);
    expect(formatVerify(mismatch)).toContain("different appointments (south, 1)");
    const original = await appointment(owner.db, "south", 1);
    await candidate.db.execute(
      sql`update appointments set reason = ${String(original?.reason)} where clinic_id = 'south' and slot = 1`,
    );
    expect((await verify()).ok).toBe(true);
  });

  test("bun run migrate-data verify|status <route> read the same declaration and each side's database: env", async () => {
    const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url));
    const run = async (command = "verify") => {
      const child = Bun.spawn([process.execPath, cli, command, route.id], {
        env: {
          ...devScriptEnv(),
          FIG_ROUTES_FILE: ROUTE_FILE,
          CLINIC_LEGACY_DATABASE_URL: owner.url,
          SCHEDULING_DATABASE_URL: candidate.url,
          FIG_NAMESPACE: namespace,
          NATS_URL: TEST_NATS_URL,
          DATA_DIR: `/nonexistent-${namespace}`,
        },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, err, code] = await Promise.all([
        new Response(child.stdout).text(),
        new Response(child.stderr).text(),
        child.exited,
      ]);
      return { code, text: `${out}\n${err}` };
    };
    const equal = await run();
    expect(equal.text).toContain("from CLINIC_LEGACY_DATABASE_URL");
    expect(equal.text).toMatch(/ok +patients +rows +8 \/ +8/);
    expect(equal.code).toBe(0);
    await candidate.db.execute(sql`delete from appointments where clinic_id = 'north' and slot = 3`);
    const missing = await run();
    expect(missing.code).toBe(1);
    expect(missing.text).toContain("missing   appointments (north, 3)");
    const [row] = rowsOf<{ r: Row | string }>(
      await owner.db.execute(
        sql`select to_jsonb(a) as r from appointments a where clinic_id = 'north' and slot = 3`,
      ),
    ).map(rowOf);
    await candidate.db.execute(
      sql`insert into appointments select * from jsonb_populate_record(null::appointments, ${JSON.stringify(row)}::jsonb)`,
    );
    expect((await verify()).ok).toBe(true);
    const status = await run("status");
    expect(status.code).toBe(0);
    expect(status.text).toContain(
      "route scheduling: write owner clinic-legacy; scheduling follows through scheduling-scheduling-sync",
    );
    expect(status.text).toMatch(/outbox pending 0, stream pending 0, unacked 0\n/);
  });

  test("the flip's verify gate: a differing row refuses it; equal sides flip the write owner", async () => {
    const calls: string[] = [];
    let writeOwner = LEGACY;
    const gateway: GatewayAdmin = {
      writeOwner: async () => writeOwner,
      hold: async () => {
        calls.push("hold");
        return { drained: true, inFlight: 0, stats: { held: 0, rejected: 0, longestHeldMs: 0 } };
      },
      release: async () => {
        calls.push("release");
        return { drained: true, inFlight: 0, stats: { held: 0, rejected: 0, longestHeldMs: 0 } };
      },
      setWriteOwner: async (_route, next) => {
        calls.push(`owner ${next}`);
        writeOwner = next;
        return {};
      },
    };
    const flip = () =>
      flipWriteOwner({
        route: route.id,
        ...sides(),
        tables: route.tables,
        followers: route.consumers,
        event: route.event,
        gateway,
        nats,
        namespace,
        state: createDatasyncState(nats, namespace),
        holdMs: 2000,
        drainTimeoutMs: 30_000,
      });
    await candidate.db.execute(sql`update patients set allergies = '[]'::jsonb where id = ${uuid(5)}`);
    const refused = await flip();
    expect(refused.outcome).toBe("refused");
    expect(refused.verify.tables.find((t) => t.table === "patients")?.differences).toEqual([
      { key: uuid(5), kind: "different" },
    ]);
    expect(calls).toEqual(["hold", "release"]);
    expect(writeOwner).toBe(LEGACY);

    await candidate.db.execute(sql`update patients set allergies = '["latex"]'::jsonb where id = ${uuid(5)}`);
    calls.length = 0;
    const flipped = await flip();
    expect(flipped.outcome).toBe("flipped");
    expect(calls).toEqual(["hold", `owner ${SCHEDULING}`, "release"]);
    expect(writeOwner).toBe(SCHEDULING);
  });
});
