/**
 * `bun run dev` until every service is ready, as a new user gets it: a fresh clone of this repository
 * (`git clone` of the committed HEAD; uncommitted work is not in it), `bun install --frozen-lockfile` there,
 * then `bun scripts/dev.ts` in it, timed until the runner prints `all N service(s) ready in X s`.
 *
 *   first — no .data/ and no template cluster (FIG_PGLITE_TEMPLATE_DIR points at an empty folder): the
 *           runner runs initdb once, as on a machine that never ran `bun run dev` (skip with --no-first)
 *   cold  — no .data/ (every embedded database is copied from the template cluster in ~/.cache/fig and runs its
 *           migrations; the monolith also loads reference-data's seed)
 *   warm  — the same clone again, its .data/ kept
 *
 * Before the starts, a breakdown: each step of a database's start on its own, in a fresh process each
 * (PGlite's WASM compile, initdb, a copy of the template, a warm open, each service's migrated template made
 * and a new database copied from it, its migrations over the wire server fresh and already applied, the
 * monolith's seed, and the import of each service's modules), with this
 * checkout's code. `--ref <commit>` starts another commit of the clone instead of HEAD (e.g. the one before a
 * change, to compare under the same load).
 *
 * Each start is stopped with SIGINT (Ctrl-C) and the runner's exit awaited: that is the shutdown figure.
 * Per service: when the runner printed its `✓ <name> ready` line (it polls /ready every 100 ms).
 * The runner reuses the NATS server answering on 127.0.0.1:4222 (else starts nats-server from PATH in the
 * clone's .data/nats); the services get this run's own FIG_NAMESPACE (the runner passes the environment
 * through), whose streams are deleted at the end. DATABASE_URL is removed: the figure is the embedded default.
 * The services listen on their fixed ports (8080–8083): the script refuses to run while one is taken.
 *
 * Figures are printed, never asserted; the exit code is non-zero only when something did not work.
 *
 * Usage: bun bench/dev-start.ts [--runs 1] [--timeout 300] [--ref <commit>] [--no-first] [--no-profile]
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { jetstreamManager } from "../packages/events/node_modules/@nats-io/jetstream/lib/mod.js";
import { connect } from "../packages/events/node_modules/@nats-io/transport-node/lib/mod.js";
import { deleteNamespace } from "../packages/events/src/streams.ts";
import { discoverServices } from "../scripts/dev-runner/discover.ts";
import { portProblem } from "../scripts/dev-runner/ports.ts";
import { cleanupOnSignals, parseFlags, usageError } from "./lib/cli.ts";
import {
  check,
  heading,
  kv,
  line,
  loadAverage,
  median,
  printSummary,
  seconds,
  summary,
  table,
  verdict,
} from "./lib/report.ts";

const ROOT = resolve(import.meta.dir, "..");
const USAGE =
  "usage: bun bench/dev-start.ts [--runs 1] [--timeout 300] [--ref <commit>] [--no-first yes] [--no-profile yes]";
const DEV_PORTS = [8080, 8081, 8082, 8083];
const NAMESPACE = `benchdev${crypto.randomUUID().replace(/-/g, "").slice(0, 8)}`;
const STOP_DEADLINE_MS = 60_000; // the runner itself gives its services 15 s, then kills them

// A breakdown step runs alone in a fresh process (`--step <name> --dir <scratch>`) and prints its laps as JSON.
if (Bun.argv[2] === "--step") await profileStep(Bun.argv[3] ?? "", Bun.argv[5] ?? "");

const values = parseFlags(USAGE, ["runs", "timeout", "ref", "no-first", "no-profile"]);
const whole = (text: string, flag: string) => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) usageError(USAGE, `${flag} must be a whole number ≥ 1`);
  return n;
};
const RUNS = whole(values.runs ?? "1", "--runs");
const TIMEOUT_MS = whole(values.timeout ?? "300", "--timeout") * 1000;

type Start = {
  label: string;
  /** Seconds from spawn to each service's ready line. */
  ready: Map<string, number>;
  /** Seconds from spawn to the `all N service(s) ready` line, and the runner's own figure on that line. */
  allAt?: number;
  runnerSays?: number;
  shutdown?: number;
  exit?: string;
  /** The 1-minute load average just before the spawn (the machine may be shared). */
  load: number;
  /** Seconds from spawn to the runner's "embedded databases open" line. */
  databasesOpen?: number;
  nats?: string;
  /**
   * CPU seconds (user + system) of the runner and every service, spawn to exit: the work a start costs, which
   * the load of a shared machine changes far less than the wall time.
   */
  cpu?: number;
};

let runner: Bun.Subprocess<"ignore", "pipe", "pipe"> | undefined;
const workDir = mkdtempSync(join(tmpdir(), "fig-bench-dev-"));
const repo = join(workDir, "repo");
let natsReused = false;

async function cleanup() {
  if (runner && runner.exitCode === null && runner.signalCode === null) {
    runner.kill("SIGINT");
    await Promise.race([runner.exited, Bun.sleep(STOP_DEADLINE_MS)]);
  }
  if (natsReused) await deleteNamespaceStreams().catch((e) => line(`  (stream cleanup: ${e.message})`));
  rmSync(workDir, { recursive: true, force: true });
}
cleanupOnSignals("stopping bun run dev and removing the clone", cleanup);

/** Deletes this run's JetStream streams (events, jobs, DLQ, KV buckets and object stores are all streams). */
async function deleteNamespaceStreams(): Promise<void> {
  const nc = await connect({ servers: process.env.NATS_URL ?? "127.0.0.1:4222", timeout: 3000 });
  try {
    await deleteNamespace(await jetstreamManager(nc), NAMESPACE);
  } finally {
    await nc.close();
  }
}

async function takenPorts(ports: number[]): Promise<string[]> {
  const problems = await Promise.all(ports.map(async (p) => ({ p, problem: await portProblem(p) })));
  return problems.filter((x) => x.problem !== null).map((x) => `${x.p} (${x.problem})`);
}

/** Runs `argv` in `cwd` to completion; seconds taken, or throws with its output. */
async function timed(argv: string[], cwd: string): Promise<number> {
  const t0 = performance.now();
  const proc = Bun.spawn(argv, { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}:\n${out}${err}`.trim());
  return (performance.now() - t0) / 1000;
}

async function eachLine(stream: ReadableStream<Uint8Array>, onLine: (text: string) => void) {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  }
  if (buffered) onLine(buffered);
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");

/** One `bun scripts/dev.ts` in the clone: until every service is ready (or it fails), then SIGINT. */
async function devStart(label: string, expected: number, templateDir?: string): Promise<Start> {
  const start: Start = { label, ready: new Map(), load: loadavg()[0] ?? 0 };
  const env: Record<string, string | undefined> = { ...process.env, FIG_NAMESPACE: NAMESPACE, NO_COLOR: "1" };
  if (templateDir) env.FIG_PGLITE_TEMPLATE_DIR = templateDir;
  else delete env.FIG_PGLITE_TEMPLATE_DIR;
  for (const name of ["DATABASE_URL", "FIG_DEV_ROOT", "FIG_DEV_NATS_PORT", "FORCE_COLOR", "NODE_ENV", "PORT"])
    delete env[name];
  const tail: string[] = [];
  const afterSignal: string[] = []; // everything printed while stopping, to show why a service was killed
  let stopping = false;
  let allReady!: () => void;
  const all = new Promise<void>((r) => {
    allReady = r;
  });
  const t0 = performance.now();
  const proc = Bun.spawn(["bun", "scripts/dev.ts"], {
    cwd: repo,
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  runner = proc;
  const onLine = (raw: string) => {
    const text = plain(raw);
    const at = (performance.now() - t0) / 1000;
    tail.push(text);
    if (tail.length > 60) tail.shift();
    if (stopping) afterSignal.push(text);
    const nats = text.match(/^ {2}nats {6}(.*)$/);
    if (nats?.[1]) {
      start.nats = nats[1];
      if (!nats[1].startsWith("starting")) natsReused = true;
    }
    if (/embedded databases open after/.test(text)) start.databasesOpen = at;
    const ready = text.match(/^[✓!] (\S+) (?:ready|up \(not ready: .*\)) +API /);
    if (ready?.[1]) start.ready.set(ready[1], at);
    const done = text.match(/^all (\d+) service\(s\) (ready|up) in ([\d.]+) s/);
    if (done) {
      start.allAt = at;
      start.runnerSays = Number(done[3]);
      check(
        Number(done[1]) === expected,
        `${label}: the runner started ${done[1]} services, the clone has ${expected}`,
      );
      check(done[2] === "ready", `${label}: the runner says "${done[2]}", not "ready" (no NATS?)`);
      allReady();
    }
  };
  const drained = Promise.all([eachLine(proc.stdout, onLine), eachLine(proc.stderr, onLine)]);
  const outcome = await Promise.race([
    all.then(() => "ready" as const),
    proc.exited.then(() => "exited" as const),
    Bun.sleep(TIMEOUT_MS).then(() => "timeout" as const),
  ]);
  if (outcome !== "ready") {
    check(
      false,
      `${label}: ${outcome === "exited" ? `the runner exited (${proc.exitCode})` : `not every service was ready within ${TIMEOUT_MS / 1000} s`} before its "all … ready" line; its last lines:\n${tail.join("\n")}`,
    );
  }
  if (proc.exitCode === null && proc.signalCode === null) {
    const stopAt = performance.now();
    stopping = true;
    proc.kill("SIGINT");
    const stopped = await Promise.race([
      proc.exited.then(() => true),
      Bun.sleep(STOP_DEADLINE_MS).then(() => false),
    ]);
    if (stopped) start.shutdown = (performance.now() - stopAt) / 1000;
    else check(false, `${label}: the runner did not exit within ${STOP_DEADLINE_MS / 1000} s of SIGINT`);
  }
  await Promise.race([drained, Bun.sleep(2000)]);
  runner = undefined;
  start.exit = proc.signalCode ? `signal ${proc.signalCode}` : String(proc.exitCode);
  // Linux reports a waited-for child's usage with that of the children it waited for: the services.
  const usage = proc.resourceUsage();
  if (usage) start.cpu = Number(usage.cpuTime.user + usage.cpuTime.system) / 1e6;
  const killed = afterSignal.filter((t) => t.includes("did not stop within"));
  check(
    killed.length === 0,
    `${label}: ${killed.join("; ")}; what was printed while stopping:\n${afterSignal.join("\n")}`,
  );
  check(
    proc.exitCode === 0 || outcome !== "ready",
    `${label}: the runner exited with ${start.exit} after SIGINT`,
  );
  // The runner waits for its services; a port still held now would be a process it left behind.
  const deadline = performance.now() + 5000;
  let held = await takenPorts(DEV_PORTS);
  while (held.length > 0 && performance.now() < deadline) {
    await Bun.sleep(100);
    held = await takenPorts(DEV_PORTS);
  }
  check(held.length === 0, `${label}: after the runner exited, still taken: ${held.join(", ")}`);
  return start;
}

// ─── main ─────────────────────────────────────────────────────────────────────────────────────────────────

heading("bun run dev until every service is ready (fresh clone, embedded PGlite)");
const taken = await takenPorts(DEV_PORTS);
if (taken.length > 0) {
  console.error(
    `✗ bench/dev-start.ts runs \`bun run dev\`, whose services listen on ${DEV_PORTS.join(", ")}; taken: ${taken.join(", ")}.\n` +
      "  Stop what holds them (`lsof -i :<port>`; another `bun run dev`?) and run it again. Nothing was started.",
  );
  rmSync(workDir, { recursive: true, force: true });
  process.exit(2);
}

kv("load average (1/5/15 min)", loadAverage(" / "));
kv("namespace", NAMESPACE);
const REF = values.ref;
const cloneSeconds = await timed(["git", "clone", "-q", ROOT, repo], workDir);
if (REF) await timed(["git", "checkout", "-q", REF], repo);
const head = (
  await new Response(Bun.spawn(["git", "log", "-1", "--format=%h %s"], { cwd: repo }).stdout).text()
)
  .trim()
  .slice(0, 90);
kv(`git clone (committed ${REF ?? "HEAD"} only)`, `${seconds(cloneSeconds)}  ${head}`);
let installSeconds: number;
try {
  installSeconds = await timed(["bun", "install", "--frozen-lockfile"], repo);
} catch (error) {
  check(false, `bun install --frozen-lockfile in the clone failed: ${(error as Error).message}`);
  await cleanup();
  process.exit(printSummary());
}
kv("bun install --frozen-lockfile", `${seconds(installSeconds)} (packages from Bun's cache on this machine)`);
const services = discoverServices(repo);
const extra = services.map((s) => s.port).filter((p) => !DEV_PORTS.includes(p));
const extraTaken = await takenPorts(extra);
if (!check(extraTaken.length === 0, `ports the clone's services need are taken: ${extraTaken.join(", ")}`)) {
  await cleanup();
  process.exit(printSummary());
}
kv("services in the clone", services.map((s) => `${s.name} :${s.port}`).join(", "));

if (values["no-profile"] === undefined) await printBreakdown();

const KINDS =
  values["no-first"] === undefined ? (["first", "cold", "warm"] as const) : (["cold", "warm"] as const);
const starts: Start[] = [];
for (let run = 1; run <= RUNS; run++) {
  for (const kind of KINDS) {
    const label = RUNS === 1 ? kind : `${kind} ${run}`;
    if (kind !== "warm") rmSync(join(repo, ".data"), { recursive: true, force: true });
    // "first": a template folder of its own, empty, so the runner makes the template as on a new machine.
    const templateDir = kind === "first" ? join(workDir, `template-${run}`) : undefined;
    line(`  … ${label} start`);
    const start = await devStart(label, services.length, templateDir);
    starts.push(start);
    if (start.nats) kv("nats", start.nats);
    kv(
      label,
      `all ready ${start.allAt === undefined ? "—" : seconds(start.allAt)} after spawn` +
        ` (the runner says ${start.runnerSays ?? "—"} s); shutdown ${start.shutdown === undefined ? "—" : seconds(start.shutdown)}`,
    );
  }
}

const cell = (v: number | undefined) => (v === undefined ? "—" : seconds(v));
line();
line(
  table([
    [
      "start",
      "load",
      "dbs open",
      ...services.map((s) => s.name),
      "all ready",
      "runner says",
      "SIGINT → exit",
      "CPU",
      "exit",
    ],
    ...starts.map((s) => [
      s.label,
      s.load.toFixed(1),
      cell(s.databasesOpen),
      ...services.map((svc) => cell(s.ready.get(svc.name))),
      cell(s.allAt),
      s.runnerSays === undefined ? "—" : `${s.runnerSays.toFixed(1)} s`,
      cell(s.shutdown),
      cell(s.cpu),
      s.exit ?? "—",
    ]),
  ]),
);
line(
  "  (seconds from spawning `bun scripts/dev.ts`; a service's time is its runner line, which polls /ready every 100 ms;\n" +
    "   dbs open: the runner's line saying its embedded databases are open (— when it serves none);\n" +
    "   'runner says' counts from after its database/NATS set-up; shutdown: SIGINT to the runner's exit;\n" +
    `   load: the 1-minute load average before the spawn, on a machine with ${availableParallelism()} cores;\n` +
    "   CPU: user + system seconds of the runner and its services from spawn to exit, shutdown included)",
);

for (const kind of KINDS) {
  const of = starts.filter((s) => s.label.startsWith(kind));
  const all = of.map((s) => s.allAt).filter((v): v is number => v !== undefined);
  const down = of.map((s) => s.shutdown).filter((v): v is number => v !== undefined);
  const cpu = of.map((s) => s.cpu).filter((v): v is number => v !== undefined);
  const many = of.length > 1 ? ` (median of ${of.length})` : "";
  summary.push({
    figure: `bun run dev → every service ready, ${kind}${many}`,
    result: all.length ? seconds(median(all)) : "—",
    goal: kind === "cold" ? "≤ 5 s" : "-",
    verdict: kind === "cold" && all.length ? verdict(median(all) <= 5) : "",
    note: [
      down.length ? `Ctrl-C → exit ${seconds(median(down))}` : "",
      cpu.length ? `CPU ${seconds(median(cpu))}` : "",
    ]
      .filter(Boolean)
      .join(", "),
  });
}

await cleanup();
process.exit(printSummary("Shutdown"));

// ─── the breakdown: each step of a database's start, alone ───────────────────────────────────────────────────

type Lap = { step: string; seconds: number; note?: string };

/** Runs each step in a fresh process (so each pays its own WASM compile, as a service used to) and prints them. */
async function printBreakdown(): Promise<void> {
  heading("breakdown: a database's start, step by step (this checkout's code, one fresh process per step)");
  kv("load average (1/5/15 min)", loadAverage(" / "));
  const scratch = join(workDir, "profile");
  mkdirSync(scratch, { recursive: true });
  const laps: Lap[] = [];
  for (const step of ["pglite", "migrate", "imports"]) {
    const proc = Bun.spawn(["bun", join(ROOT, "bench", "dev-start.ts"), "--step", step, "--dir", scratch], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    if (!check(code === 0, `breakdown step ${step} exited with ${code}:\n${err}`)) continue;
    laps.push(...(JSON.parse(out.trim().split("\n").at(-1) ?? "[]") as Lap[]));
  }
  line(table([["step", "seconds", ""], ...laps.map((l) => [l.step, l.seconds.toFixed(2), l.note ?? ""])]));
  rmSync(scratch, { recursive: true, force: true });
}

/** One breakdown step, in this process; prints its laps as one JSON line and exits. */
async function profileStep(step: string, dir: string): Promise<never> {
  const { openPglite } = await import("../packages/db/src/embedded.ts");
  const { serveOverWire } = await import("../packages/db/src/wire-server.ts");
  const { createDatabase } = await import("../packages/db/src/database.ts");
  const laps: Lap[] = [];
  let t = performance.now();
  const lap = (name: string, note?: string) => {
    const now = performance.now();
    laps.push({ step: name, seconds: (now - t) / 1000, ...(note ? { note } : {}) });
    t = now;
  };
  const templateDir = join(dir, "template");
  if (step === "pglite") {
    const wasm = Bun.file(join(ROOT, "packages/db/node_modules/@electric-sql/pglite/dist/pglite.wasm"));
    await WebAssembly.compile(await wasm.arrayBuffer());
    lap("PGlite WASM compile", "once per process: the runner compiles once for all its databases");
    t = performance.now();
    const first = await openPglite(join(dir, "first"), { templateDir });
    lap("new database, no template (initdb)", "first start on a machine; it becomes the template");
    await first.close();
    t = performance.now();
    const copied = await openPglite(join(dir, "copied"), { templateDir });
    lap("new database from the template", "cold: a file copy (~24 MB) and an open");
    await copied.close();
    t = performance.now();
    const again = await openPglite(join(dir, "copied"), { templateDir });
    lap("existing database, open", "warm");
    await again.close();
  } else if (step === "migrate") {
    const { seedEmptyReferenceTables } = await import(
      "../services/dash/monolith/src/modules/reference/seed.ts"
    );
    if (!existsSync(templateDir))
      await (await openPglite(join(dir, "made-template"), { templateDir })).close();
    t = performance.now();
    for (const service of discoverServices(ROOT).filter((svc) => existsSync(join(svc.dir, "drizzle")))) {
      const migrationsFolder = join(service.dir, "drizzle");
      t = performance.now();
      const made = await openPglite(join(dir, `made-${service.name}`), { templateDir, migrationsFolder });
      lap(
        `${service.name}: its migrated template, made`,
        "once per change of its drizzle/ (in ~/.cache/fig)",
      );
      await made.close();
      t = performance.now();
      const copied = await openPglite(join(dir, `copied-${service.name}`), { templateDir, migrationsFolder });
      lap(`${service.name}: new database from its migrated template`, "cold, as bun run dev opens it");
      await copied.close();
      const pglite = await openPglite(join(dir, `migrate-${service.name}`), { templateDir });
      const server = await serveOverWire(pglite);
      const database = await createDatabase({ service: service.name, url: server.url });
      t = performance.now();
      await database.migrate(join(service.dir, "drizzle"));
      lap(`${service.name}: migrations, fresh`, "over the wire server, as before the migrated templates");
      await database.migrate(join(service.dir, "drizzle"));
      lap(`${service.name}: migrations, already applied`, "warm");
      if (service.name === "monolith") {
        const seeded = await seedEmptyReferenceTables(
          database.db,
          join(ROOT, "services", "dash", "reference-data", "seed"),
        );
        lap(
          "monolith: reference seed into empty tables",
          `${Object.values(seeded).reduce((a, b) => a + b, 0)} rows, cold only`,
        );
      }
      await database.close();
      await server.close();
      await pglite.close();
      t = performance.now();
    }
  } else if (step === "imports") {
    for (const service of discoverServices(ROOT)) {
      t = performance.now();
      const proc = Bun.spawn(
        ["bun", "-e", `await import(${JSON.stringify(join(service.dir, "src", "app.ts"))})`],
        {
          cwd: ROOT,
          stdout: "ignore",
          stderr: "pipe",
        },
      );
      const [err, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      if (code !== 0) throw new Error(`importing ${service.name}'s src/app.ts failed (${code}): ${err}`);
      lap(`${service.name}: bun start + import of src/app.ts`, "each service, before any database work");
    }
  } else {
    console.error(`unknown step ${step}`);
    process.exit(2);
  }
  console.log(JSON.stringify(laps));
  process.exit(0);
}
