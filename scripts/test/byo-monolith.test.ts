/**
 * docs/bring-your-own-monolith.md, followed step by step with an app Fig has never seen, in a copy of this
 * repository: a notes API on `node:http` over its own Postgres table (fixtures/byo-monolith/notes-app.ts) becomes
 * the monolith of a route file written for it; `bun run new service notes` adds a service and its route at 0 %;
 * the real gateway and the service run as processes; the route's data is declared and `migrate-data` backfills
 * and verifies it; the shadow compares both sides; the real `promote` CLI takes the route to 100 % on the
 * service's generated gate.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SQL } from "bun";
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER, mintDevToken, type Role } from "../../packages/auth/src/index.ts";
import { createNatsClient, deleteNamespace } from "../../packages/events/src/index.ts";
import { parseRouteFile } from "../../packages/route-file/src/index.ts";
import { createTestDatabase, TEST_NATS_URL, type TestDatabase } from "../../packages/testing/src/index.ts";
import { FOLLOWER_TABLES_DDL, type NotesApp, startNotesApp } from "./fixtures/byo-monolith/notes-app.ts";
import { copyRepository, expectExit, run } from "./lib/repo-copy.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURES = join(import.meta.dir, "fixtures", "byo-monolith");
const STEP_MS = 300_000;
const SECRET = "fig-byo-monolith-test-secret-0123456789abcdef";
const TENANT = "acme";

let copy: string;
let legacyDb: TestDatabase | undefined;
let notesDb: TestDatabase | undefined;
let app: NotesApp | undefined;
const namespace = `byo${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
const processes: { name: string; proc: Bun.Subprocess<"ignore", "pipe", "pipe">; log: () => string }[] = [];
let gatewayUrl = "";

/** Every variable the guide's commands read, pointed at this test's app, databases, NATS namespace and gateway. */
function stackEnv(): Record<string, string> {
  return {
    NODE_ENV: "development",
    AUTH_DEV_SECRET: SECRET,
    NATS_URL: TEST_NATS_URL,
    FIG_NAMESPACE: namespace,
    FIG_ROUTES_FILE: join(copy, "fig.yaml"),
    LEGACY_URL: app?.url ?? "",
    LEGACY_DATABASE_URL: legacyDb?.url ?? "",
    NOTES_DATABASE_URL: notesDb?.url ?? "",
    GATEWAY_URL: gatewayUrl,
    FIG_GATEWAY_URL: gatewayUrl,
    DATA_DIR: join(copy, ".data"),
    LOG_LEVEL: "info",
    LOG_PRETTY: "false",
  };
}

const bunRun = (args: string[], env: Record<string, string> = {}) =>
  run([process.execPath, "run", ...args], copy, { ...stackEnv(), ...env });

const token = (roles: Role[], tenant = TENANT, sub = "byo-test") =>
  mintDevToken({ secret: SECRET, issuer: DEFAULT_ISSUER, audience: DEFAULT_AUDIENCE, sub, tenant, roles });

/** A main.ts of the copy as a process on a free port; resolves with its URL once /ready answers 200. */
async function startProcess(name: string, entry: string, env: Record<string, string>): Promise<string> {
  const proc = Bun.spawn([process.execPath, entry], {
    cwd: copy,
    env: { ...process.env, ...stackEnv(), PORT: "0", HOST: "127.0.0.1", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  let err = "";
  processes.push({ name, proc, log: () => `${out}\n${err}`.slice(-4000) });
  void (async () => {
    for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk);
  })();
  // Its "listening" log line carries the URL of the port it got; the log keeps draining after it.
  const url = await new Promise<string>((resolve, reject) => {
    void (async () => {
      for await (const chunk of proc.stdout) {
        out += new TextDecoder().decode(chunk);
        const found = /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"listening"/.exec(out)?.[1];
        if (found) resolve(found);
      }
      reject(new Error(`${name} exited before listening:\n${out}\n${err}`.slice(-4000)));
    })();
  });
  const deadline = Date.now() + 60_000;
  while (
    (await fetch(`${url}/ready`).then(
      (r) => r.status,
      () => 0,
    )) !== 200
  ) {
    if (Date.now() > deadline) throw new Error(`${name} never became ready at ${url}/ready`);
    await Bun.sleep(200);
  }
  return url;
}

/** A long-running `bun run …` of the copy (the outbox relay), once it has said `ready` on stderr. */
async function startCommand(name: string, args: string[], ready: RegExp): Promise<void> {
  const proc = Bun.spawn([process.execPath, "run", ...args], {
    cwd: copy,
    env: { ...process.env, ...stackEnv() },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  processes.push({ name, proc, log: () => out.slice(-4000) });
  void (async () => {
    for await (const chunk of proc.stdout) out += new TextDecoder().decode(chunk);
  })();
  await new Promise<void>((resolve, reject) => {
    void (async () => {
      for await (const chunk of proc.stderr) {
        out += new TextDecoder().decode(chunk);
        if (ready.test(out)) resolve();
      }
      reject(new Error(`${name} exited before it was ready:\n${out}`.slice(-4000)));
    })();
  });
}

/** Stops a process this test started (SIGTERM, which `bun run` passes on) and waits for it to exit. */
async function stopProcess(name: string): Promise<void> {
  const running = processes.filter((p) => p.name === name && p.proc.exitCode === null);
  for (const { proc } of running) proc.kill("SIGTERM");
  await Promise.all(running.map(({ proc }) => proc.exited));
}

/** Polls `check` until it returns true; a deadline fails with `what`. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await Bun.sleep(100);
  }
}

async function api(path: string, init: { method?: string; token: string; body?: unknown; pin?: string }) {
  const res = await fetch(`${gatewayUrl}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${init.token}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...(init.pin ? { "x-fig-route": init.pin } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    servedBy: res.headers.get("fig-served-by"),
    body: text ? JSON.parse(text) : null,
  };
}

/** The gateway's control plane (/_fig) takes an operator of the operator tenant. */
const operator = () => token(["operator", "admin"], "platform", "byo-operator");

async function liveWeights(): Promise<Record<string, number>> {
  const res = await api("/_fig/routes", { token: await operator() });
  expect(res.status).toBe(200);
  const route = (res.body.routes as { id: string; upstreams: { name: string; weight: number }[] }[]).find(
    (r) => r.id === "notes",
  );
  return Object.fromEntries((route?.upstreams ?? []).map((u) => [u.name, u.weight]));
}

/** The notes route's write hold as the gateway has it: its deadline (null when writes flow) and the writes held. */
async function writeHold(): Promise<{ until: string | null; stats: { held: number } }> {
  const res = await api("/_fig/routes/notes/write-hold", { token: await operator() });
  expect(res.status).toBe(200);
  return res.body;
}

/** The route's write owner as the gateway has it. */
async function writeOwner(): Promise<string | undefined> {
  const res = await api("/_fig/routes", { token: await operator() });
  expect(res.status).toBe(200);
  return (res.body.routes as { id: string; writeOwner: string }[]).find((r) => r.id === "notes")?.writeOwner;
}

/** The rows of the notes table in the database at `url`, by id. */
async function notesIn(url: string | undefined): Promise<Map<string, { tenant_id: string; name: string }>> {
  const sql = new SQL(url as string, { max: 1 });
  try {
    const rows: { id: string; tenant_id: string; name: string }[] =
      await sql`select id, tenant_id, name from notes`;
    return new Map(rows.map((r) => [r.id, r]));
  } finally {
    await sql.close();
  }
}

beforeAll(async () => {
  copy = await copyRepository(ROOT, "fig-byo-monolith-");
  const server = "the app, the service and migrate-data are separate processes on the same databases";
  legacyDb = await createTestDatabase({ service: "byo-legacy", requiresServer: server });
  notesDb = await createTestDatabase({ service: "byo-notes", requiresServer: server });
  app = await startNotesApp({ databaseUrl: legacyDb.url as string, secret: SECRET });
}, STEP_MS);

afterAll(async () => {
  for (const { proc } of processes.reverse()) {
    proc.kill("SIGTERM");
    const stopped = await Promise.race([proc.exited.then(() => true), Bun.sleep(15_000).then(() => false)]);
    if (!stopped) proc.kill("SIGKILL");
  }
  await app?.close().catch(() => {});
  const nats = createNatsClient({ servers: TEST_NATS_URL, name: "byo-monolith-test" });
  await deleteNamespace(await nats.manager(), namespace).catch(() => {});
  await nats.close();
  await legacyDb?.drop();
  await notesDb?.drop();
  if (copy) await rm(copy, { recursive: true, force: true });
}, STEP_MS);

describe("bring your own monolith: a node:http notes app behind Fig", () => {
  test("1. its URL goes in the route file as the monolith (the default route); `fig routes check` passes", async () => {
    await writeFile(join(copy, "fig.yaml"), await readFile(join(FIXTURES, "fig.yaml"), "utf8"));
    const check = await bunRun(["fig", "routes", "check"]);
    expectExit(check, 0);
    expect(check.stdout).toContain("default /api → legacy, 0 routes");
    // A mistake is named at its field path: the file is what the gateway will refuse to start on.
    const wrong = join(copy, "wrong.yaml");
    await writeFile(
      wrong,
      (await readFile(join(FIXTURES, "fig.yaml"), "utf8")).replace(
        "backendRef: legacy",
        "backendRef: legacyy",
      ),
    );
    const refused = await bunRun(["fig", "routes", "check", "--file", wrong]);
    expectExit(refused, 1);
    expect(refused.stderr + refused.stdout).toContain("monolith.backendRef");
  });

  test(
    "2. `bun run new service notes` writes the service and its route at 0 %, and the file still checks",
    async () => {
      expectExit(await bunRun(["new", "service", "notes"]), 0);
      const file = parseRouteFile(await readFile(join(copy, "fig.yaml"), "utf8"), "fig.yaml");
      expect(file.routes.find((r) => r.name === "notes")).toMatchObject({
        matches: [{ path: { type: "PathPrefix", value: "/api/notes" } }],
        backendRefs: [
          { name: "legacy", weight: 100 },
          { name: "notes", weight: 0 },
        ],
        filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "notes" }, percent: 0 } }],
        fig: { writes: "owner", writeOwner: "legacy", gate: { script: "loadtests/notes.js" } },
      });
      expect(file.upstreams.notes).toMatchObject({ database: { env: "NOTES_DATABASE_URL" } });
      expectExit(await bunRun(["fig", "routes", "check"]), 0);
    },
    STEP_MS,
  );

  test(
    "3. the scaffold declared the route's data (fig.data: its table) and gave the service the sync's tables",
    async () => {
      const file = parseRouteFile(await readFile(join(copy, "fig.yaml"), "utf8"), "fig.yaml");
      expect(file.routes.find((r) => r.name === "notes")?.fig?.data).toEqual({
        event: "data.changed",
        consumers: {},
        tables: [{ name: "notes", key: ["id"], updatedAt: "updated_at", exclude: [] }],
      });
      // The receiving side keeps the live sync's per-key watermarks (sync_keys, which backfill consults) and the
      // event ids it applied (inbox): the scaffold's first migration creates both, so the service needs no edit.
      const service = join(copy, "services", "notes");
      const init = await readFile(join(service, "drizzle", "0000_init.sql"), "utf8");
      for (const table of ["notes", "outbox", "inbox", "sync_keys"])
        expect(init).toContain(`CREATE TABLE "${table}"`);
      // …and its main.ts runs the follower of the route's write owner.
      expect(await readFile(join(service, "src", "main.ts"), "utf8")).toContain("createFollower(");
    },
    STEP_MS,
  );

  const written: { id: string; body: unknown }[] = [];

  test(
    "4. the gateway and the service start; at 0 % the app serves every read and write",
    async () => {
      const notesUrl = await startProcess("notes", "services/notes/src/main.ts", {
        DATABASE_URL: notesDb?.url ?? "",
      });
      gatewayUrl = await startProcess("gateway", "services/gateway/src/main.ts", { NOTES_URL: notesUrl });
      expect(await liveWeights()).toEqual({ legacy: 100, notes: 0 });
      const editor = await token(["editor"]);
      for (const name of ["first", "second", "third"]) {
        const created = await api("/api/notes", { method: "POST", token: editor, body: { name } });
        expect({ status: created.status, servedBy: created.servedBy }).toEqual({
          status: 201,
          servedBy: "legacy",
        });
        written.push({ id: created.body.id, body: created.body });
      }
      const list = await api("/api/notes", { token: await token(["viewer"]) });
      expect({ status: list.status, servedBy: list.servedBy }).toEqual({ status: 200, servedBy: "legacy" });
      expect(list.body.items.map((n: { name: string }) => n.name).sort()).toEqual([
        "first",
        "second",
        "third",
      ]);
      expect([...(await notesIn(legacyDb?.url)).keys()].sort()).toEqual(written.map((w) => w.id).sort());
      expect((await notesIn(notesDb?.url)).size).toBe(0);
      // No token, no entry: the gateway refuses before the app is asked.
      const before = app?.requests();
      expect((await fetch(`${gatewayUrl}/api/notes`)).status).toBe(401);
      expect(app?.requests()).toBe(before);
    },
    STEP_MS,
  );

  test(
    "5. migrate-data: verify names the gap, backfill copies the app's table into the service's, verify then passes",
    async () => {
      const before = await bunRun(["migrate-data", "verify", "notes"]);
      expectExit(before, 1);
      expect(before.stderr).toContain("mismatch");
      const backfill = await bunRun(["migrate-data", "backfill", "notes"]);
      expectExit(backfill, 0);
      expect(backfill.stderr).toContain("backfill notes: legacy (write owner) → notes");
      expect(backfill.stderr).toMatch(/notes: 3 rows read, 3 written/);
      expectExit(await bunRun(["migrate-data", "verify", "notes"]), 0);
      const copied = await notesIn(notesDb?.url);
      expect([...copied.keys()].sort()).toEqual(written.map((w) => w.id).sort());
      // The service answers for the copied rows as the app did (pinned to it, as a gate is).
      const pinner = await token(["viewer", "gate"]);
      for (const { id, body } of written) {
        const pinned = await api(`/api/notes/${id}`, { token: pinner, pin: "notes" });
        expect({ status: pinned.status, servedBy: pinned.servedBy, body: pinned.body }).toEqual({
          status: 200,
          servedBy: "notes",
          body,
        });
      }
    },
    STEP_MS,
  );

  test(
    "6. shadow: the route's GETs mirrored to the service compare equal to the app's answers",
    async () => {
      const shadow = await api("/_fig/routes/notes/shadow", {
        method: "PUT",
        token: await operator(),
        body: { percent: 100, reason: "byo-monolith test: shadow before promoting" },
      });
      expect(shadow).toMatchObject({ status: 200, body: { candidate: "notes", percent: 100 } });
      const viewer = await token(["viewer"]);
      for (const { id } of written) {
        const read = await api(`/api/notes/${id}`, { token: viewer });
        expect({ status: read.status, servedBy: read.servedBy }).toEqual({ status: 200, servedBy: "legacy" });
      }
      type Report = { route: string; compared: number; mismatches: number; candidateErrors: number };
      let report: Report | undefined;
      const deadline = Date.now() + 60_000;
      while ((report?.compared ?? 0) < written.length) {
        if (Date.now() > deadline) throw new Error(`the shadow compared too few: ${JSON.stringify(report)}`);
        await Bun.sleep(100);
        const res = await api("/_fig/shadow", { token: await operator() });
        report = (res.body.routes as Report[]).find((r) => r.route === "notes");
      }
      expect(report).toMatchObject({ compared: written.length, mismatches: 0, candidateErrors: 0 });
    },
    STEP_MS,
  );

  test(
    "7. `bun run promote notes --to notes` runs the service's generated gate at each step and reaches 100 %",
    async () => {
      const promote = await bunRun([
        "promote",
        "notes",
        "--to",
        "notes",
        "--engine",
        "builtin",
        "--steps",
        "50,100",
        "--step-duration",
        "4s",
        "--vus",
        "2",
        "--min-requests",
        "5",
        "--inconclusive-deadline",
        "60s",
      ]);
      expectExit(promote, 0);
      const said = promote.stdout + promote.stderr;
      expect(said).toContain("gate token: minted, roles editor, gate in tenant fig");
      // Each step decided by the gate and by the gateway's own numbers for the candidate.
      expect(said).toMatch(/step 1 of 2 \{"legacy":50,"notes":50\}: pass \(gate pass, gateway pass/);
      expect(said).toMatch(/step 2 of 2 \{"legacy":0,"notes":100\}: pass \(gate pass, gateway pass/);
      expect(await liveWeights()).toEqual({ legacy: 0, notes: 100 });
      // Reads now go to the service; writes stay with the app, the write owner until a flip.
      const read = await api(`/api/notes/${written[0]?.id}`, { token: await token(["viewer"]) });
      expect({ status: read.status, servedBy: read.servedBy, body: read.body }).toEqual({
        status: 200,
        servedBy: "notes",
        body: written[0]?.body,
      });
      const created = await api("/api/notes", {
        method: "POST",
        token: await token(["editor"]),
        body: { name: "after the promotion" },
      });
      expect({ status: created.status, servedBy: created.servedBy }).toEqual({
        status: 201,
        servedBy: "legacy",
      });
      written.push({ id: created.body.id, body: created.body });
    },
    STEP_MS,
  );

  test(
    "8. after the promotion verify names the gate's rows and the new write; backfill again puts the service right",
    async () => {
      // The gate wrote to the service (pinned) as tenant fig; the app took a write the service has not seen.
      const gateRows = [...(await notesIn(notesDb?.url)).values()].filter((r) => r.tenant_id === "fig");
      expect(gateRows.length).toBeGreaterThan(0);
      expectExit(await bunRun(["migrate-data", "verify", "notes"]), 1);
      expectExit(await bunRun(["migrate-data", "backfill", "notes"]), 0);
      expectExit(await bunRun(["migrate-data", "verify", "notes"]), 0);
      const both = [await notesIn(legacyDb?.url), await notesIn(notesDb?.url)];
      expect([...(both[1]?.keys() ?? [])].sort()).toEqual([...(both[0]?.keys() ?? [])].sort());
      expect([...(both[1]?.keys() ?? [])].sort()).toEqual(written.map((w) => w.id).sort());
    },
    STEP_MS,
  );

  test(
    "9. the flip is refused while the app writes no outbox, naming it; nothing was held and the app keeps the writes",
    async () => {
      const refused = await bunRun(["migrate-data", "flip", "notes"]);
      expectExit(refused, 1);
      const said = refused.stdout + refused.stderr;
      expect(said).toContain("cannot flip notes's writes, nothing was held");
      expect(said).toContain("legacy's database has no outbox table");
      // Everything else the flip needs is there: the scaffold wired the follower and created sync_keys and inbox.
      expect(said).not.toContain("no follower");
      expect(said).not.toContain("notes's database has no");
      expect(await writeOwner()).toBe("legacy");
      const created = await api("/api/notes", {
        method: "POST",
        token: await token(["editor"]),
        body: { name: "while the flip was refused" },
      });
      expect({ status: created.status, servedBy: created.servedBy }).toEqual({
        status: 201,
        servedBy: "legacy",
      });
      written.push({ id: created.body.id, body: created.body });
      // Without a live sync the service catches up by backfill only.
      expectExit(await bunRun(["migrate-data", "backfill", "notes"]), 0);
    },
    STEP_MS,
  );

  test(
    "10. the app writes its outbox and `migrate-data relay` publishes it: the app's writes reach the service live",
    async () => {
      await app?.enableOutbox();
      await startCommand("relay", ["migrate-data", "relay", "notes"], /relay: publishing legacy's outbox/);
      const editor = await token(["editor"]);
      const created = await api("/api/notes", {
        method: "POST",
        token: editor,
        body: { name: "synced live" },
      });
      expect({ status: created.status, servedBy: created.servedBy }).toEqual({
        status: 201,
        servedBy: "legacy",
      });
      written.push({ id: created.body.id, body: created.body });
      const [first, second] = written;
      const renamed = await api(`/api/notes/${first?.id}`, {
        method: "PATCH",
        token: editor,
        body: { name: "renamed in the app" },
      });
      expect({ status: renamed.status, servedBy: renamed.servedBy }).toEqual({
        status: 200,
        servedBy: "legacy",
      });
      const removed = await api(`/api/notes/${second?.id}`, {
        method: "DELETE",
        token: await token(["admin"]),
      });
      expect({ status: removed.status, servedBy: removed.servedBy }).toEqual({
        status: 204,
        servedBy: "legacy",
      });
      written.splice(1, 1);
      // The service's follower applies each change: no backfill in between.
      await until("the service's table follows the app's writes", async () => {
        const rows = await notesIn(notesDb?.url);
        return (
          rows.has(created.body.id) &&
          rows.get(first?.id as string)?.name === "renamed in the app" &&
          !rows.has(second?.id as string)
        );
      });
      expectExit(await bunRun(["migrate-data", "verify", "notes"]), 0);
    },
    STEP_MS,
  );

  const flipped: { id: string; servedBy: string | null }[] = [];

  test(
    "11. `migrate-data flip notes` holds the writes, drains the sync, verifies and makes the service the owner; no write is lost",
    async () => {
      // Writes keep coming through the gateway while the flip runs: each is answered, by one owner or the other.
      // As fast as the gateway answers, so with the gate role's limit: the route's 100 per minute per consumer
      // refuses such a client (429) within the second the flip command takes to start, before any hold.
      const editor = await token(["editor", "gate"], TENANT, "byo-flip-writer");
      // The hold lasts while the sync drains (the app's outbox published, the service's follower caught up): a
      // blink. So the relay is stopped first and a write leaves the app's outbox one event behind; the flip's
      // drain waits for it, and the relay starts again only once a write is seen waiting at the gateway's hold.
      // --drain-ms gives the relay's restart room on a loaded machine (the drain's default limit is 10 s).
      await stopProcess("relay");
      const before = await api("/api/notes", { method: "POST", token: editor, body: { name: "unrelayed" } });
      expect({ status: before.status, servedBy: before.servedBy }).toEqual({
        status: 201,
        servedBy: "legacy",
      });
      flipped.push({ id: before.body.id, servedBy: before.servedBy });
      const heldBefore = (await writeHold()).stats.held;
      let flipping = true;
      const refusals: unknown[] = [];
      const writer = (async () => {
        for (let i = 0; ; i++) {
          const after = !flipping; // the last write starts once the flip has ended
          const res = await api("/api/notes", {
            method: "POST",
            token: editor,
            body: { name: `during ${i}` },
          });
          if (res.status === 201) flipped.push({ id: res.body.id, servedBy: res.servedBy });
          else refusals.push(res);
          if (after) return;
        }
      })();
      let flipEnded = false;
      const flipRun = bunRun([
        "migrate-data",
        "flip",
        "notes",
        "--hold-ms",
        "20000",
        "--drain-ms",
        "18000",
      ]).finally(() => {
        flipEnded = true;
      });
      await until("a write waits at the gateway's hold (or the flip ended)", async () => {
        if (flipEnded) return true;
        const hold = await writeHold();
        return hold.until !== null && hold.stats.held > heldBefore;
      });
      // The flip cannot end while the app's outbox holds an unpublished change.
      const [pending]: { n: number }[] = await (app as NotesApp).sql`
        select count(*)::int as n from outbox where sent_at is null`;
      expect({ flipEnded, unpublished: (pending?.n ?? 0) > 0 }).toEqual({
        flipEnded: false,
        unpublished: true,
      });
      await startCommand("relay", ["migrate-data", "relay", "notes"], /relay: publishing legacy's outbox/);
      const flip = await flipRun;
      flipping = false;
      await writer;
      expectExit(flip, 0);
      expect(flip.stdout).toContain("FLIPPED: notes now owns the writes of notes");
      // The client kept writing through the hold: some writes waited at the gateway, none was refused.
      const waited = Number(/\((\d+) writes waited\)/.exec(flip.stdout)?.[1]);
      expect(waited).toBeGreaterThan(0);
      expect(refusals).toEqual([]);
      expect(await writeOwner()).toBe("notes");
      // Before the hold the app took them (and the sync brought them over); after it, the service did.
      expect(flipped.at(-1)?.servedBy).toBe("notes");
      const inService = await notesIn(notesDb?.url);
      for (const { id } of [...written, ...flipped])
        expect({ id, inService: inService.has(id) }).toEqual({ id, inService: true });
      const inApp = await notesIn(legacyDb?.url);
      for (const { id, servedBy } of flipped)
        expect({ id, servedBy, inApp: inApp.has(id) }).toEqual({
          id,
          servedBy,
          inApp: servedBy === "legacy",
        });
    },
    STEP_MS,
  );

  test(
    "12. after the flip a POST through the gateway is written by the service; `migrate-data follow` brings it to the app's table",
    async () => {
      const editor = await token(["editor"]);
      const created = await api("/api/notes", {
        method: "POST",
        token: editor,
        body: { name: "owned by the service" },
      });
      expect({ status: created.status, servedBy: created.servedBy }).toEqual({
        status: 201,
        servedBy: "notes",
      });
      const read = await api(`/api/notes/${created.body.id}`, { token: await token(["viewer"]) });
      expect({ status: read.status, servedBy: read.servedBy, body: read.body }).toEqual({
        status: 200,
        servedBy: "notes",
        body: created.body,
      });
      expect((await notesIn(notesDb?.url)).get(created.body.id)?.name).toBe("owned by the service");
      written.push({ id: created.body.id, body: created.body });
      // Nothing flows back to the app by itself: verify (the service now the owner) names what the app lacks.
      expect((await notesIn(legacyDb?.url)).has(created.body.id)).toBe(false);
      const behind = await bunRun(["migrate-data", "verify", "notes"]);
      expectExit(behind, 1);
      expect(behind.stderr).toContain(created.body.id);
      // The follower an app does not run itself: refused while the app's database lacks its tables, then run.
      const refused = await bunRun(["migrate-data", "follow", "notes"]);
      expectExit(refused, 1);
      expect(refused.stderr).toContain("legacy's database has no sync_keys table");
      for (const statement of FOLLOWER_TABLES_DDL) await app?.sql.unsafe(statement);
      await startCommand(
        "follow",
        ["migrate-data", "follow", "notes"],
        /follow: applying notes's data.changed/,
      );
      // What the service took since the flip reaches the app's table: during the flip, and after it.
      const renamed = await api(`/api/notes/${created.body.id}`, {
        method: "PATCH",
        token: editor,
        body: { name: "renamed by the service" },
      });
      expect({ status: renamed.status, servedBy: renamed.servedBy }).toEqual({
        status: 200,
        servedBy: "notes",
      });
      const fromService = flipped.filter((w) => w.servedBy === "notes").map((w) => w.id);
      await until("the app's table follows the service's writes", async () => {
        const rows = await notesIn(legacyDb?.url);
        return (
          rows.get(created.body.id)?.name === "renamed by the service" &&
          fromService.every((id) => rows.has(id))
        );
      });
      expectExit(await bunRun(["migrate-data", "verify", "notes"]), 0);
    },
    STEP_MS,
  );

  test(
    "13. flipping back returns the writes to the app, and the service follows it again",
    async () => {
      const back = await bunRun(["migrate-data", "flip", "notes"]);
      expectExit(back, 0);
      expect(back.stdout).toContain("FLIPPED: legacy now owns the writes of notes");
      expect(await writeOwner()).toBe("legacy");
      const created = await api("/api/notes", {
        method: "POST",
        token: await token(["editor"]),
        body: { name: "the app owns it again" },
      });
      expect({ status: created.status, servedBy: created.servedBy }).toEqual({
        status: 201,
        servedBy: "legacy",
      });
      await until("the service's table follows the app again", async () =>
        (await notesIn(notesDb?.url)).has(created.body.id),
      );
      expectExit(await bunRun(["migrate-data", "verify", "notes"]), 0);
    },
    STEP_MS,
  );
});
