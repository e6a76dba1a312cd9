/**
 * CI's "promotion" step: the real stack (monolith, reference-data, validation, gateway as processes on real
 * Postgres and NATS), then, on the builtin gate engine:
 *   1. EVERY route of the gateway's table promoted to its candidate from the defaults, as a user would run it
 *      (the route's own gate script and the gate token promote mints from its declaration; no --gate, no
 *      --gate-token), steps of a few seconds → each must reach 100 %;
 *   2. reference-data again with 5 % injected 500s (FIG_FAULTS=1, PUT /_fig/faults) → it must roll back at step 1.
 * Everything it starts is its own: fresh uniquely named databases (dropped after), a unique FIG_NAMESPACE
 * (its streams and KV buckets deleted after), processes stopped by pid. Exits non-zero with the reason.
 *
 *   bun scripts/ci-promotion.ts
 */
import { join } from "node:path";
import { SQL } from "bun";
import { mintDevToken } from "../packages/auth/src/mint.ts";
import { createNatsClient } from "../packages/events/src/nats.ts";
import { discoverServices } from "./dev-runner/discover.ts";

const ROOT = join(import.meta.dir, "..");
/** Each service's entry point, found as `bun run dev` finds it (through the workspace globs). */
const MAINS = new Map(discoverServices(ROOT).map((service) => [service.name, service.main]));
const PG = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const run = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const namespace = `ciprom_${run}`;
const AUTH = {
  AUTH_ISSUER: "fig-ci",
  AUTH_AUDIENCE: "fig",
  AUTH_DEV_SECRET: "fig-ci-promotion-secret-0123456789abcdef",
};
const TENANT = "fig";
const ROUTE = "reference-data";

type Child = { name: string; proc: ReturnType<typeof Bun.spawn>; url: string };
const children: Child[] = [];
const databases: string[] = [];
const started = Date.now();
const say = (line: string) =>
  console.log(`[ci-promotion +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);

class Failure extends Error {}
const fail = (message: string): never => {
  throw new Failure(message);
};

function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port as number;
  probe.stop(true);
  return port;
}

async function createDatabase(service: string): Promise<string> {
  const name = `fig_ciprom_${run}_${service.replace(/-/g, "_")}`;
  const admin = new SQL(PG);
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.close();
  }
  databases.push(name);
  const url = new URL(PG);
  url.pathname = `/${name}`;
  return url.toString();
}

async function waitReady(child: Child, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (child.proc.exitCode !== null)
      fail(`${child.name} exited with ${child.proc.exitCode} before it was ready`);
    const res = await fetch(`${child.url}/ready`).catch(() => null);
    if (res?.status === 200) return;
    await Bun.sleep(100);
  }
  fail(`${child.name} not ready at ${child.url}/ready within ${ms / 1000}s`);
}

function start(name: string, port: number, env: Record<string, string>): Child {
  const main = MAINS.get(name) ?? fail(`no service named ${name} under the workspaces`);
  const proc = Bun.spawn(["bun", main], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      NODE_ENV: "test",
      HOST: "127.0.0.1",
      PORT: String(port),
      // The faulty run makes the gateway log every injected 500; only a crash is worth printing here.
      LOG_LEVEL: "fatal",
      NATS_URL,
      FIG_NAMESPACE: namespace,
      ...AUTH,
      ...env,
    },
    stdout: "inherit",
    stderr: "inherit",
  });
  const child = { name, proc, url: `http://127.0.0.1:${port}` };
  children.push(child);
  say(`started ${name} (pid ${proc.pid}) on ${child.url}`);
  return child;
}

/**
 * A tenant's editor seeds data; the control plane (the gateway's /_fig, a service's /_fig/faults) takes an
 * operator: role operator in tenant platform (FIG_OPERATOR_TENANT's default, which nothing here sets).
 */
const token = (roles: ("editor" | "operator")[], tenant = TENANT) =>
  mintDevToken({
    secret: AUTH.AUTH_DEV_SECRET,
    issuer: AUTH.AUTH_ISSUER,
    audience: AUTH.AUTH_AUDIENCE,
    sub: "ci",
    tenant,
    roles,
  });

/** The same seed codes into both sides of the route, so the gate's reads find data wherever they go. */
async function seed(service: Child, editor: string) {
  for (const resource of ["contexts", "codes"]) {
    const res = await fetch(`${service.url}/api/${resource}/import`, {
      method: "POST",
      headers: { authorization: `Bearer ${editor}`, "content-type": "text/csv" },
      body: Bun.file(join(ROOT, "services/dash/reference-data/seed", `${resource}.csv`)),
    });
    if (!res.ok) fail(`seeding ${resource} into ${service.name}: ${res.status} ${await res.text()}`);
  }
}

async function promote(gatewayUrl: string, args: string[]) {
  say(`bun run promote ${args.join(" ")}`);
  const proc = Bun.spawn(["bun", join(ROOT, "packages/promote/src/cli.ts"), ...args], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: process.env.HOME ?? "/tmp",
      NATS_URL,
      FIG_NAMESPACE: namespace,
      FIG_GATEWAY_URL: gatewayUrl,
      ...AUTH,
    },
    stdout: "inherit",
    stderr: "inherit",
  });
  return proc.exited;
}

type GatewayRoute = { id: string; upstreams: { name: string; weight: number }[] };

async function routes(gatewayUrl: string, operator: string): Promise<GatewayRoute[]> {
  const res = await fetch(`${gatewayUrl}/_fig/routes`, { headers: { authorization: `Bearer ${operator}` } });
  if (!res.ok) fail(`GET /_fig/routes: ${res.status}`);
  return ((await res.json()) as { routes: GatewayRoute[] }).routes;
}

async function weights(gatewayUrl: string, operator: string, id = ROUTE): Promise<Record<string, number>> {
  const route =
    (await routes(gatewayUrl, operator)).find((r) => r.id === id) ?? fail(`no route ${id} at the gateway`);
  return Object.fromEntries(route.upstreams.map((u) => [u.name, u.weight]));
}

async function latestPromotion(gatewayUrl: string, operator: string, route = ROUTE) {
  const res = await fetch(`${gatewayUrl}/_fig/promotions?route=${route}`, {
    headers: { authorization: `Bearer ${operator}` },
  });
  if (!res.ok) fail(`GET /_fig/promotions: ${res.status}`);
  const { promotions } = (await res.json()) as {
    promotions: {
      state: string;
      reason: string | null;
      decisions: { step: number; verdict: string; reason: string }[];
    }[];
  };
  return promotions.at(-1) ?? fail("no promotion recorded");
}

async function main() {
  const ports = {
    monolith: freePort(),
    "reference-data": freePort(),
    validation: freePort(),
    gateway: freePort(),
  };
  const monolith = start("monolith", ports.monolith, { DATABASE_URL: await createDatabase("monolith") });
  // The candidate accepts fault injection (FIG_FAULTS=1), at 0 % until the second promotion.
  const referenceData = start("reference-data", ports["reference-data"], {
    DATABASE_URL: await createDatabase("reference-data"),
    FIG_FAULTS: "1",
  });
  const validation = start("validation", ports.validation, {
    DATABASE_URL: await createDatabase("validation"),
    REFERENCE_DATA_URL: referenceData.url,
  });
  await Promise.all([waitReady(monolith), waitReady(referenceData)]);
  const editor = await token(["editor"]);
  const operator = await token(["operator"], "platform");
  await seed(monolith, editor);
  await seed(referenceData, editor);
  say("seeded contexts and codes into the monolith and reference-data");
  await waitReady(validation);
  const gateway = start("gateway", ports.gateway, {
    MONOLITH_URL: monolith.url,
    REFERENCE_DATA_URL: referenceData.url,
    VALIDATION_URL: validation.url,
  });
  await waitReady(gateway);

  const common = ["--engine", "builtin", "--vus", "4", "--step-duration", "3s", "--min-requests", "30"];
  // Every carved-out route, from its defaults: the candidate is the upstream that is not the monolith. A route
  // with one upstream (Fig's own, e.g. identity, routed whole) has nothing to promote.
  const all = (await routes(gateway.url, operator)).filter((r) => r.id !== "default");
  for (const r of all.filter((r) => r.upstreams.length < 2))
    say(`route ${r.id}: one upstream (${r.upstreams[0]?.name}), nothing to promote`);
  const table = all.filter((r) => r.upstreams.length >= 2);
  if (!table.some((r) => r.id === ROUTE)) fail(`no route ${ROUTE} at the gateway`);
  for (const route of table) {
    const candidate =
      route.upstreams.find((u) => u.name !== "monolith")?.name ?? fail(`route ${route.id} has no candidate`);
    const code = await promote(gateway.url, [route.id, "--to", candidate, "--steps", "50,100", ...common]);
    const after = await weights(gateway.url, operator, route.id);
    if (code !== 0 || after[candidate] !== 100) {
      const record = await latestPromotion(gateway.url, operator, route.id).catch(() => null);
      fail(
        `route ${route.id}: the promotion to candidate ${candidate} from the defaults did not reach 100 % ` +
          `(exit ${code}, weights ${JSON.stringify(after)}${record ? `, reason: ${record.reason}` : ""})`,
      );
    }
    say(`route ${route.id}: candidate ${candidate} promoted from the defaults: ${JSON.stringify(after)}`);
  }

  if (
    (await promote(gateway.url, [
      "rollback",
      ROUTE,
      "--reason",
      "ci: back to the monolith for the faulty run",
    ])) !== 0
  )
    fail("promote rollback failed");
  // The service's own fault switch (FIG_FAULTS=1 only) checks the token itself: an operator's, as at the gateway.
  const faults = await fetch(`${referenceData.url}/_fig/faults`, {
    method: "PUT",
    headers: { authorization: `Bearer ${operator}`, "content-type": "application/json" },
    body: JSON.stringify({ errorRate: 0.05 }),
  });
  if (!faults.ok) fail(`PUT /_fig/faults on reference-data: ${faults.status} ${await faults.text()}`);
  say("reference-data now answers 5 % of /api requests with 500");

  const faulty = await promote(gateway.url, [ROUTE, "--to", ROUTE, "--steps", "10,50,100", ...common]);
  const afterFaulty = await weights(gateway.url, operator);
  const record = await latestPromotion(gateway.url, operator);
  const first = record.decisions[0];
  if (faulty !== 1 || record.state !== "rolled-back")
    fail(`the faulty candidate was not rolled back (exit ${faulty}, state ${record.state})`);
  if (record.decisions.length !== 1 || first?.step !== 1 || first.verdict !== "fail")
    fail(
      `the faulty candidate was not rolled back at the first step: ${JSON.stringify(record.decisions.map((d) => [d.step, d.verdict]))}`,
    );
  if (afterFaulty.monolith !== 100) fail(`weights after the rollback: ${JSON.stringify(afterFaulty)}`);
  say(`faulty candidate rolled back at step 1 (${first?.reason}); weights ${JSON.stringify(afterFaulty)}`);
}

async function cleanup() {
  for (const child of [...children].reverse()) {
    child.proc.kill("SIGTERM");
    const exited = await Promise.race([
      child.proc.exited.then(() => true),
      Bun.sleep(15_000).then(() => false),
    ]);
    if (!exited) {
      say(`${child.name} (pid ${child.proc.pid}) ignored SIGTERM; killing it`);
      child.proc.kill("SIGKILL");
      await child.proc.exited;
    }
  }
  const admin = new SQL(PG);
  try {
    for (const name of databases) await admin.unsafe(`drop database if exists ${name} with (force)`);
  } finally {
    await admin.close();
  }
  const nats = createNatsClient({ servers: NATS_URL, name: "ci-promotion-cleanup" });
  try {
    const manager = await nats.manager();
    const names: string[] = [];
    for await (const name of manager.streams.names())
      if (name.toLowerCase().includes(namespace)) names.push(name);
    for (const name of names) await manager.streams.delete(name).catch(() => {});
    say(
      `cleaned up: ${children.length} processes, ${databases.length} databases, ${names.length} streams/buckets`,
    );
  } finally {
    await nats.close();
  }
}

// A CI timeout (SIGTERM) or Ctrl-C still stops what this script started and drops what it created.
for (const signal of ["SIGTERM", "SIGINT"] as const)
  process.once(signal, () => {
    console.error(`ci-promotion: ${signal}; cleaning up`);
    void cleanup().finally(() => process.exit(1));
  });

let code = 0;
try {
  await main();
  say("promotion step passed");
} catch (error) {
  code = 1;
  console.error(
    `ci-promotion FAILED: ${error instanceof Failure ? error.message : ((error as Error).stack ?? error)}`,
  );
} finally {
  await cleanup().catch((error) => {
    code = 1;
    console.error(`ci-promotion cleanup failed: ${(error as Error).message}`);
  });
}
process.exit(code);
