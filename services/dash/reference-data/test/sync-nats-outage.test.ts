import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { destroyNamespaceState } from "@fig/datasync";
import { rowsOf } from "@fig/db";
import { createNatsClient, deleteStreams } from "@fig/events";
import { createTestAuth, createTestDatabase, natsServerBinary, type TestDatabase } from "@fig/testing";
import { sql } from "drizzle-orm";
import { codeInput } from "./helpers.ts";
import {
  converged,
  MONOLITH_MIGRATIONS,
  REFERENCE_MIGRATIONS,
  uniqueNamespace,
  until,
} from "./sync-helpers.ts";
import { commonEnv, freePort, migrateData, type Service, startService } from "./sync-processes.ts";

// NATS down during writes: the monolith and reference-data as real processes on a nats-server of this test's own
// (the shared one cannot be stopped), killed by pid for the outage and started again on the same store directory.
const OUTAGE_MS = 10_000;
const namespace = uniqueNamespace("outage");
const auth = createTestAuth();
const storeDir = mkdtempSync(join(tmpdir(), "fig-sync-nats-"));
const natsPort = freePort();
const natsUrl = `nats://127.0.0.1:${natsPort}`;
let natsServer: Bun.Subprocess | undefined;
let mono: TestDatabase;
let ref: TestDatabase;
let monolith: Service;
let referenceData: Service;
let editor: string;

async function startNats() {
  const proc = Bun.spawn(
    [natsServerBinary(), "-js", "-a", "127.0.0.1", "-p", String(natsPort), "-sd", storeDir],
    { stdout: "ignore", stderr: "ignore" },
  );
  const probe = createNatsClient({ servers: natsUrl, name: "outage-probe" });
  await until("own nats-server up", () => probe.check().then(() => true));
  await probe.close();
  return proc;
}

beforeAll(async () => {
  const requiresServer = "two service processes and their own nats-server";
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
  natsServer = await startNats();
  editor = await auth.token({ roles: ["editor"], sub: "writer" });
  const base = commonEnv(namespace, natsUrl);
  const [mp, rp] = [freePort(), freePort()];
  const urls = { MONOLITH_URL: `http://127.0.0.1:${mp}`, REFERENCE_DATA_URL: `http://127.0.0.1:${rp}` };
  monolith = await startService("monolith", mp, { ...base, ...urls, DATABASE_URL: mono.url as string });
  referenceData = await startService("reference-data", rp, {
    ...base,
    ...urls,
    DATABASE_URL: ref.url as string,
  });
}, 120_000);

afterAll(async () => {
  for (const s of [referenceData, monolith]) await s?.stop().catch(() => {});
  if (natsServer && natsServer.exitCode === null) {
    const nats = createNatsClient({ servers: natsUrl, name: "outage-cleanup" });
    await deleteStreams(await nats.manager(), namespace).catch(() => {});
    await destroyNamespaceState(nats, namespace).catch(() => {});
    await nats.close();
    natsServer.kill("SIGKILL");
    await natsServer.exited;
  }
  rmSync(storeDir, { recursive: true, force: true });
  await mono?.drop();
  await ref?.drop();
});

const create = (code: string) =>
  fetch(`${monolith.url}/api/codes`, {
    method: "POST",
    headers: { authorization: `Bearer ${editor}`, "content-type": "application/json" },
    body: JSON.stringify(codeInput(code)),
  });

const unsent = async () =>
  rowsOf<{ n: number }>(
    await mono.db.execute(sql`select count(*)::int as n from outbox where sent_at is null`),
  )[0]?.n ?? 0;

describe("NATS outage", () => {
  test("writes commit on the monolith while NATS is down (outbox); after it returns the sync catches up and verify passes", async () => {
    await converged(mono.db, ref.db);
    const acknowledged: string[] = [];
    let next = 83000;
    const write = async () => {
      const code = String(next++);
      const res = await create(code);
      expect(res.status).toBe(201);
      acknowledged.push(code);
    };
    for (let i = 0; i < 10; i++) await write();

    natsServer?.kill("SIGKILL");
    await natsServer?.exited;
    // The outage: writes keep being accepted and committed, their events wait in the outbox.
    const downSince = Date.now();
    let duringOutage = 0;
    while (Date.now() - downSince < OUTAGE_MS || duringOutage < 20) {
      await write();
      duringOutage++;
      await Bun.sleep(50);
    }
    expect(await unsent()).toBeGreaterThan(0);
    natsServer = await startNats();
    for (let i = 0; i < 10; i++) await write();

    await until("the monolith's outbox to be published", async () =>
      (await unsent()) === 0 ? true : undefined,
    );
    await converged(mono.db, ref.db, 120_000);
    const env = {
      ...commonEnv(namespace, natsUrl),
      MONOLITH_DATABASE_URL: mono.url as string,
      REFERENCE_DATA_DATABASE_URL: ref.url as string,
    };
    const verify = await migrateData(["verify", "reference-data", "--json"], env);
    expect(verify.code).toBe(0);
    expect((JSON.parse(verify.stdout) as { ok: boolean }).ok).toBe(true);
    const present = rowsOf<{ code: string }>(
      await ref.db.execute(
        sql`select code from codes where code in (select jsonb_array_elements_text(${JSON.stringify(acknowledged)}::jsonb))`,
      ),
    ).map((r) => r.code);
    expect(present.sort()).toEqual([...acknowledged].sort());
    expect(duringOutage).toBeGreaterThanOrEqual(20);
  }, 240_000);
});
