/**
 * validation benchmarks, end to end through real processes: services/dash/validation as a separate API process
 * (WORKER=off) and a separate `--worker-only` process, on a real Postgres and a real NATS JetStream, with its
 * reference read model synced at start from a services/dash/reference-data process (seeded with `bun run seed`).
 * Prints, each with how it was measured:
 *
 *   small — 10,000 rows, 3 times: upload → completed (POST /api/files raw text/csv streamed from a file, then
 *           POST /api/validations, then GET /api/validations/{id} every 20 ms). Goal ≤ 1 s; median, with the
 *           upload, queue → start and worker duration on their own.
 *   large — 250k, 500k and 1M rows, each on a fresh worker process: the same path, the worker process's peak
 *           RSS (VmRSS every 100 ms + VmHWM), the API process's peak during the upload. Goals: 1M ≤ 30 s,
 *           worker ≤ 300 MB and flat as the file grows. With --anchor <checkout>, each file is validated a second
 *           time by that checkout's worker (same database, API and NATS), and its peak and time print beside.
 *
 * Every file is written by `bun run gen:claims --today <local date>` (the worker's engine uses the real local
 * date), and each run's counts.byRule is compared with the generator's .expected.json.
 *
 * Goals are printed, never asserted: the exit code is non-zero only when something did not work (a process did
 * not start, a run failed or timed out, the counts did not match the generator's expectation).
 *
 * Usage (from the repository root):
 *   bun bench/validation.ts [--only small|large[,…]] [--runs 3] [--small-rows 10000]
 *                           [--sizes 250000,500000,1000000] [--anchor /tmp/fig-val-old] [--worker-profile dir]
 * Env: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres): a server
 * where this user may CREATE DATABASE; BENCH_NATS_URL (else NATS_URL, else 127.0.0.1:4222): a JetStream server.
 * Two databases (fig_bench_val_*, fig_bench_val_refdata_*) are dropped at the end; the streams and the
 * object-store bucket of the namespace bench<random>val are deleted at the end (also after a failure or Ctrl-C).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { mintDevToken } from "../packages/auth/src/mint.ts";
import {
  createNatsClient,
  deleteStreams,
  type NatsClient,
  streamNames,
} from "../packages/events/src/index.ts";
// The object-store client is a dependency of services/dash/validation, not of the root: import it from there.
import { Objm } from "../services/dash/validation/node_modules/@nats-io/obj/lib/mod.js";
import { bucketName } from "../services/dash/validation/src/domain/object-store.ts";
import { cleanupOnSignals, parseFlags, parseOnly, usageError } from "./lib/cli.ts";
import { adminUrl, backendPids, createBenchDatabase, dropAll, serverVersion } from "./lib/postgres.ts";
import {
  check,
  heading,
  int,
  kv,
  line,
  loadAverage,
  median,
  mib,
  ms,
  printSummary,
  problems,
  redactedHost,
  seconds,
  summary,
  table,
  verdict,
} from "./lib/report.ts";
import {
  freePort,
  machineCpuSeconds,
  processCpuSeconds,
  procStatusBytes,
  resetPeakRss,
  type Service,
  sampleRss,
  serviceEnv,
  startService,
  stopAll,
  stopService,
  waitReady,
} from "./lib/service.ts";

const ROOT = resolve(import.meta.dir, "..");
const VALIDATION = ["bun", "services/dash/validation/src/main.ts"];
const REFERENCE_DATA = ["bun", "services/dash/reference-data/src/main.ts"];
const NATS_URL = process.env.BENCH_NATS_URL ?? process.env.NATS_URL ?? "127.0.0.1:4222";
/** The services' development secret: validation mints its reference-data token from it, the bench its own. */
const SECRET = "fig-dev-secret-change-me-0123456789abcdef";
const RUN = crypto.randomUUID().replace(/-/g, "").slice(0, 8);
const NAMESPACE = `bench${RUN}val`;
const TENANT = "bench";
const SECTIONS = ["small", "large"] as const;
type Section = (typeof SECTIONS)[number];

const GOALS = {
  smallS: 1,
  largeS: 30,
  largeRows: 1_000_000,
  workerRssBytes: 300 * 1024 * 1024,
  /** The worker may take this much longer than the anchor's on the same file. */
  anchorTimeRatio: 1.1,
};
/** The API takes uploads this large, so a 2M-row file (≈ 211 MB) fits. */
const MAX_UPLOAD_BYTES = 1024 * 1024 * 1024;
const POLL_MS = 20;
const RSS_EVERY_MS = 100;
const SMALL_TIMEOUT_MS = 60_000;
const LARGE_TIMEOUT_MS = 15 * 60_000;

// ─── arguments ──────────────────────────────────────────────────────────────────────────────────────────────

const USAGE = `usage: bun bench/validation.ts [--only small|large[,…]] [--runs 3] [--small-rows 10000] [--sizes 250000,500000,1000000] [--anchor dir]
  --only        run only these figures (comma-separated); default: both
  --runs        runs of the small file (default 3; the median is reported)
  --small-rows  rows of the small file (default 10000)
  --sizes       rows of the large files, comma-separated, each on a fresh worker process (default 250000,500000,1000000)
  --anchor      another checkout (e.g. git worktree add /tmp/fig-val-old <commit>, with node_modules): each large
                file is validated again by its worker, whose peak RSS and time print beside this tree's
  --worker-profile  write a CPU profile of each of this tree's large-file workers into dir (bun --cpu-prof-md,
                written when the worker stops; the profiler's own cost is in that run's figures)`;

type Args = {
  only: Section[];
  runs: number;
  smallRows: number;
  sizes: number[];
  anchor: string | undefined;
  workerProfile: string | undefined;
};

function readArgs(): Args {
  const values = parseFlags(USAGE, ["only", "runs", "small-rows", "sizes", "anchor", "worker-profile"]);
  const only = parseOnly(USAGE, SECTIONS, values.only);
  const whole = (text: string, flag: string) => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1)
      usageError(USAGE, `${flag} must be a whole number ≥ 1 (got ${text})`);
    return n;
  };
  return {
    only,
    runs: whole(values.runs ?? "3", "--runs"),
    smallRows: whole(values["small-rows"] ?? "10000", "--small-rows"),
    sizes: (values.sizes ?? "250000,500000,1000000").split(",").map((s) => whole(s.trim(), "--sizes")),
    anchor: values.anchor ? resolve(values.anchor) : undefined,
    workerProfile: values["worker-profile"] ? resolve(values["worker-profile"]) : undefined,
  };
}

// ─── shared helpers ─────────────────────────────────────────────────────────────────────────────────────────

/** "YYYY-MM-DD" in local time: what the worker's rule engine takes as today (packages/dash/billing localToday). */
function localToday(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** Env for a service; TZ is passed on when set, so the worker's local date is the bench's. */
function envFor(vars: Record<string, string>): Record<string, string> {
  return serviceEnv({
    AUTH_DEV_SECRET: SECRET,
    NATS_URL,
    FIG_NAMESPACE: NAMESPACE,
    LOG_LEVEL: "warn",
    ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
    ...vars,
  });
}

type Expectation = { rows: number; today: string; findings: Record<string, number>; total: number };

/** `bun run gen:claims --rows N --out <path> --today <today>`; the generator's expectation. */
async function generate(path: string, rows: number, today: string) {
  const argv = ["bun", "run", "gen:claims", "--rows", String(rows), "--out", path, "--today", today];
  const started = performance.now();
  const proc = Bun.spawn(argv, { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}:\n${out}${err}`);
  const expected = (await Bun.file(`${path}.expected.json`).json()) as Expectation;
  return { expected, bytes: Bun.file(path).size, seconds: (performance.now() - started) / 1000 };
}

const nonZero = (counts: Record<string, number>) =>
  Object.fromEntries(
    Object.entries(counts)
      .filter(([, n]) => n > 0)
      .sort(([a], [b]) => a.localeCompare(b)),
  );

type CpuSplit = { worker: number; api: number; postgres: number; self: number; rest: number; text: string };

/**
 * Where the CPU went during a run: the worker process, the API process, the Postgres backends of the
 * validation database (pids from pg_stat_activity, CPU from /proc), this process, and the rest of the machine
 * (nats-server, other people's processes…).
 */
async function cpuMeter(
  workerPid: number,
  apiPid: number,
  database: string,
): Promise<(wallSeconds: number) => Promise<CpuSplit>> {
  const backendCpu = async () => new Map((await backendPids(database)).map((p) => [p, cpuOr0(p)] as const));
  const before = {
    worker: processCpuSeconds(workerPid),
    api: processCpuSeconds(apiPid),
    postgres: await backendCpu(),
    self: process.cpuUsage(),
    machine: machineCpuSeconds(),
  };
  return async (wallSeconds) => {
    const worker = cpuOr0(workerPid) - before.worker;
    const api = cpuOr0(apiPid) - before.api;
    let postgres = 0;
    for (const [p, cpu] of await backendCpu()) postgres += cpu - (before.postgres.get(p) ?? 0);
    const selfUsage = process.cpuUsage(before.self);
    const self = (selfUsage.user + selfUsage.system) / 1e6;
    const rest = Math.max(0, machineCpuSeconds().busy - before.machine.busy - worker - api - postgres - self);
    const cores = (s: number) => (s / wallSeconds).toFixed(2);
    const text =
      `worker ${cores(worker)}, API ${cores(api)}, Postgres ${cores(postgres)}, bench ${cores(self)}, ` +
      `rest of machine ${cores(rest)} (cores, of ${availableParallelism()})`;
    return { worker, api, postgres, self, rest, text };
  };
}

function cpuOr0(pid: number): number {
  try {
    return processCpuSeconds(pid);
  } catch {
    return 0; // the process exited meanwhile
  }
}

/** A ⚠ when other processes kept more than a quarter of a core busy during a measurement. */
function contention(split: CpuSplit, wallSeconds: number): string {
  const cores = split.rest / wallSeconds;
  return cores > 0.25 ? ` ⚠ other load ${cores.toFixed(1)} cores` : "";
}

// ─── the environment: reference-data, validation API, validation worker ───────────────────────────────────

type Env = {
  dbName: string;
  dbUrl: string;
  refData: Service;
  api: Service;
  worker: Service;
  editor: string;
  viewer: string;
  nats: NatsClient;
};

function startValidation(
  dbUrl: string,
  refDataUrl: string,
  workerOnly: boolean,
  root = ROOT,
  runtimeFlags: string[] = [],
): Service {
  const [bun, main] = VALIDATION as [string, string];
  return startService(
    [bun, ...runtimeFlags, main, ...(workerOnly ? ["--worker-only"] : [])],
    envFor({
      PORT: String(freePort()),
      DATABASE_URL: dbUrl,
      REFERENCE_DATA_URL: refDataUrl,
      ...(workerOnly ? {} : { WORKER: "off", MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES) }),
    }),
    root,
  );
}

/** Waits until the reference-sync consumer has handled every reference.changed event (seeding sent some). */
async function referenceSyncSettled(nats: NatsClient, timeoutMs = 20_000): Promise<boolean> {
  const jsm = await nats.manager();
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const info = await jsm.consumers
      .info(streamNames(NAMESPACE).events, "validation-reference-sync")
      .catch(() => undefined);
    if (info && info.num_pending === 0 && info.num_ack_pending === 0) return true;
    await Bun.sleep(100);
  }
  return false;
}

async function setUp(): Promise<Env> {
  heading("Setup: reference-data (seeded) → validation API (WORKER=off) + validation --worker-only");
  const refDb = await createBenchDatabase("val_refdata");
  const db = await createBenchDatabase("val");
  const refPort = String(freePort());
  const refData = startService(REFERENCE_DATA, envFor({ PORT: refPort, DATABASE_URL: refDb.url }), ROOT);
  kv("reference-data /ready", ms(await waitReady(refData)));

  const seedStarted = performance.now();
  const seed = Bun.spawn(["bun", "run", "seed"], {
    cwd: ROOT,
    env: envFor({ SEED_URL: refData.baseUrl }),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [seedOut, seedErr, seedCode] = await Promise.all([
    new Response(seed.stdout).text(),
    new Response(seed.stderr).text(),
    seed.exited,
  ]);
  if (seedCode !== 0 || !seedOut.includes("through the running service"))
    throw new Error(
      `bun run seed (SEED_URL=${refData.baseUrl}) failed (exit ${seedCode}):\n${seedOut}${seedErr}`,
    );
  kv(
    "SEED_URL=… bun run seed",
    `${ms(performance.now() - seedStarted)}: ${seedOut
      .split("\n")
      .filter((l) => l.startsWith("✓"))
      .map((l) => l.replace(/^✓\s+/, "").replace(/\s+/g, " ").split(":")[0])
      .join(", ")}`,
  );

  const api = startValidation(db.url, refData.baseUrl, false);
  kv("validation API /ready (WORKER=off)", ms(await waitReady(api)));
  const worker = startValidation(db.url, refData.baseUrl, true);
  kv("validation --worker-only /ready", ms(await waitReady(worker)));

  const nats = createNatsClient({ servers: NATS_URL, name: "bench-validation" });
  const settled = await referenceSyncSettled(nats);
  kv("reference.changed events handled", settled ? "yes (consumer has nothing pending)" : "NOT within 20 s");
  const token = (role: "editor" | "viewer") =>
    mintDevToken({ secret: SECRET, sub: `bench-${role}`, tenant: TENANT, roles: [role], ttl: "4h" });
  const [editor, viewer] = await Promise.all([token("editor"), token("viewer")]);
  kv("API pid / worker pid", `${api.pid} / ${worker.pid} (namespace ${NAMESPACE})`);
  return { dbName: db.name, dbUrl: db.url, refData, api, worker, editor, viewer, nats };
}

/** A fresh --worker-only process, of this tree or of the anchor checkout `root`, with bun's `runtimeFlags`. */
async function restartWorker(env: Env, root = ROOT, runtimeFlags: string[] = []): Promise<void> {
  await stopService(env.worker);
  env.worker = startValidation(env.dbUrl, env.refData.baseUrl, true, root, runtimeFlags);
  await waitReady(env.worker);
}

// ─── one run: upload → request → poll until completed ─────────────────────────────────────────────────────

type RunView = {
  validationId: string;
  status: "queued" | "processing" | "completed" | "failed";
  rows: number | null;
  counts: { bySeverity: Record<string, number>; byRule: Record<string, number> };
  failureReason: string | null;
  attempts: number;
  timings: {
    queuedAt: string;
    startedAt: string | null;
    finishedAt: string | null;
    durationMs: number | null;
  };
};

type RunFigures = {
  totalS: number;
  uploadS: number;
  requestMs: number;
  queueToStartMs: number;
  workerMs: number;
  /** finishedAt → the poll that saw "completed". */
  detectMs: number;
  bytes: number;
  workerIdle: number;
  workerPeak: number;
  workerHwm: number | undefined;
  apiIdle: number;
  apiUploadPeak: number;
  apiUploadHwm: number | undefined;
  cpu: CpuSplit;
  contention: string;
  countsOk: boolean;
};

async function api(env: Env, path: string, init: RequestInit & { role?: "editor" | "viewer" } = {}) {
  const { role = "editor", ...rest } = init;
  const headers = new Headers(rest.headers);
  headers.set("authorization", `Bearer ${role === "editor" ? env.editor : env.viewer}`);
  return fetch(`${env.api.baseUrl}${path}`, { ...rest, headers });
}

async function measureRun(
  env: Env,
  path: string,
  expected: Expectation,
  timeoutMs: number,
): Promise<RunFigures> {
  const { api: apiProc, worker } = env;
  const workerIdle = procStatusBytes(worker.pid, "VmRSS") ?? 0;
  const apiIdle = procStatusBytes(apiProc.pid, "VmRSS") ?? 0;
  const workerHwmReset = resetPeakRss(worker.pid);
  const apiHwmReset = resetPeakRss(apiProc.pid);
  const workerRss = sampleRss(worker.pid, RSS_EVERY_MS);
  const apiRss = sampleRss(apiProc.pid, RSS_EVERY_MS);
  const cpu = await cpuMeter(worker.pid, apiProc.pid, env.dbName);

  const t0 = performance.now();
  const uploaded = await api(
    env,
    `/api/files?name=${encodeURIComponent(path.split("/").at(-1) ?? "x.csv")}`,
    {
      method: "POST",
      body: Bun.file(path),
      headers: { "content-type": "text/csv" },
    },
  );
  const file = (await uploaded.json()) as { fileId: string; bytes: number };
  const tUploaded = performance.now();
  const apiUploadPeak = apiRss.stop();
  const apiUploadHwm = apiHwmReset ? procStatusBytes(apiProc.pid, "VmHWM") : undefined;
  if (uploaded.status !== 201)
    throw new Error(`POST /api/files answered ${uploaded.status}: ${JSON.stringify(file)}`);
  check(
    file.bytes === Bun.file(path).size,
    `the upload stored ${file.bytes} bytes of ${Bun.file(path).size}`,
  );

  const requested = await api(env, "/api/validations", {
    method: "POST",
    body: JSON.stringify({ fileId: file.fileId }),
    headers: { "content-type": "application/json" },
  });
  const job = (await requested.json()) as { validationId: string };
  const tRequested = performance.now();
  if (requested.status !== 202)
    throw new Error(`POST /api/validations answered ${requested.status}: ${JSON.stringify(job)}`);

  let run: RunView;
  let tDone: number;
  let doneWall: number;
  const deadline = t0 + timeoutMs;
  for (;;) {
    const res = await api(env, `/api/validations/${job.validationId}`, { role: "viewer" });
    const body = (await res.json()) as RunView;
    const at = performance.now();
    if (res.status !== 200)
      throw new Error(`GET /api/validations/{id} answered ${res.status}: ${JSON.stringify(body)}`);
    if (body.status === "completed" || body.status === "failed") {
      run = body;
      tDone = at;
      doneWall = Date.now();
      break;
    }
    if (at > deadline) throw new Error(`the run was still ${body.status} after ${timeoutMs / 1000} s`);
    await Bun.sleep(POLL_MS);
  }
  const totalS = (tDone - t0) / 1000;
  const workerPeak = workerRss.stop();
  const workerHwm = workerHwmReset ? procStatusBytes(worker.pid, "VmHWM") : undefined;
  const split = await cpu(totalS);

  if (run.status !== "completed") throw new Error(`the run failed: ${run.failureReason}`);
  const { queuedAt, startedAt, finishedAt, durationMs } = run.timings;
  const got = JSON.stringify(nonZero(run.counts.byRule));
  const want = JSON.stringify(nonZero(expected.findings));
  const countsOk = check(
    got === want && run.rows === expected.rows,
    `${int(expected.rows)} rows: rows ${run.rows}, counts.byRule ${got}; the generator expects ${want}`,
  );
  check(run.attempts === 1, `${int(expected.rows)} rows: the run took ${run.attempts} attempts`);
  return {
    totalS,
    uploadS: (tUploaded - t0) / 1000,
    requestMs: tRequested - tUploaded,
    queueToStartMs: Date.parse(startedAt ?? queuedAt) - Date.parse(queuedAt),
    workerMs: durationMs ?? Number.NaN,
    detectMs: doneWall - Date.parse(finishedAt ?? queuedAt),
    bytes: file.bytes,
    workerIdle,
    workerPeak,
    workerHwm,
    apiIdle,
    apiUploadPeak,
    apiUploadHwm,
    cpu: split,
    contention: contention(split, totalS),
    countsOk,
  };
}

const mbps = (bytes: number, s: number) => `${(bytes / 1024 / 1024 / s).toFixed(0)} MiB/s`;

function printRun(label: string, r: RunFigures) {
  kv(
    label,
    `${seconds(r.totalS)} upload → completed; counts.byRule ${r.countsOk ? "match" : "MISMATCH"} .expected.json`,
  );
  kv("  upload (POST /api/files → 201)", `${ms(r.uploadS * 1000)} (${mbps(r.bytes, r.uploadS)})`);
  kv("  request (POST /validations → 202)", ms(r.requestMs));
  kv("  queue → start (queued → started)", ms(r.queueToStartMs));
  kv("  worker (run's durationMs)", ms(r.workerMs));
  kv("  finished → seen by 20 ms poll", ms(r.detectMs));
  kv("  CPU over the whole run", r.cpu.text);
}

// ─── small: 10k rows, 3 runs ────────────────────────────────────────────────────────────────────────────────

async function benchSmall(env: Env, dir: string, rows: number, runs: number) {
  heading(`small. ${int(rows)} rows: upload → completed, ${runs} runs (goal ≤ ${GOALS.smallS} s)`);
  line(`  How: bun run gen:claims --rows ${rows} --today <local date>; POST /api/files?name=… with`);
  line("  body: Bun.file(path), content-type text/csv (streamed); POST /api/validations {fileId}; then");
  line(
    `  GET /api/validations/{id} every ${POLL_MS} ms until completed. Seconds from the start of the upload to the`,
  );
  line("  poll that saw completed. queue → start and worker duration come from the run's timings (service");
  line("  clocks). The same worker process serves every run (warm).");
  const today = localToday();
  const path = join(dir, `claims-${rows}.csv`);
  const gen = await generate(path, rows, today);
  line(
    `  file: ${int(rows)} rows, ${mib(gen.bytes)} (${int(gen.bytes)} bytes), ${int(gen.expected.total)} findings expected, today ${today}`,
  );
  const results: RunFigures[] = [];
  for (let i = 0; i < runs; i++) {
    line();
    const r = await measureRun(env, path, gen.expected, SMALL_TIMEOUT_MS);
    results.push(r);
    printRun(`run ${i + 1}`, r);
  }
  const med = (pick: (r: RunFigures) => number) => median(results.map(pick));
  const total = med((r) => r.totalS);
  line();
  kv(`median of ${runs}`, `${seconds(total)}   goal ≤ ${GOALS.smallS} s`);
  kv(
    "  upload / request / queue→start",
    `${ms(med((r) => r.uploadS * 1000))} / ${ms(med((r) => r.requestMs))} / ${ms(med((r) => r.queueToStartMs))}`,
  );
  kv("  worker / finished→seen", `${ms(med((r) => r.workerMs))} / ${ms(med((r) => r.detectMs))}`);
  const other = results.map((r) => r.contention).find(Boolean) ?? "";
  summary.push({
    figure: `${int(rows)} rows upload → completed (median of ${runs})`,
    result: `${seconds(total)} (${results.map((r) => r.totalS.toFixed(2)).join(", ")})`,
    goal: `≤ ${GOALS.smallS} s`,
    verdict: verdict(total <= GOALS.smallS),
    note:
      `upload ${ms(med((r) => r.uploadS * 1000))}, request ${ms(med((r) => r.requestMs))}, ` +
      `queue→start ${ms(med((r) => r.queueToStartMs))}, worker ${ms(med((r) => r.workerMs))}, ` +
      `seen +${ms(med((r) => r.detectMs))}${results.every((r) => r.countsOk) ? "; counts match" : "; COUNTS WRONG"}${other}`,
  });
}

// ─── large: 250k / 500k / 1M rows, fresh worker each ──────────────────────────────────────────────────────

async function benchLarge(
  env: Env,
  dir: string,
  sizes: number[],
  anchor: string | undefined,
  workerProfile: string | undefined,
) {
  heading(`large. ${sizes.map(int).join(" / ")} rows: seconds and the worker's peak RSS`);
  line("  How: as above, one run per size, each on a freshly started --worker-only process (so its peak is");
  line(
    `  that run's alone). The worker's VmRSS is sampled every ${RSS_EVERY_MS} ms from the start of the upload to`,
  );
  line(
    "  the poll that saw completed, and VmHWM is reset before (clear_refs) and read after; the API process",
  );
  line("  (which streams the upload into the object store) likewise during the upload.");
  line("  The worker's engine checks against the real local date (main.ts passes no `today` to the worker),");
  line("  so each file is generated with --today <local date>.");
  line(
    `  Goals: ${int(GOALS.largeRows)} rows ≤ ${GOALS.largeS} s; worker peak ≤ ${mib(GOALS.workerRssBytes)}, flat as the file grows.`,
  );
  if (anchor) {
    line(
      `  Anchor: each file is validated again by a fresh --worker-only process of ${anchor} (same database,`,
    );
    line("  API, NATS and reference read model); its worker peak and duration print beside this tree's.");
  }
  if (workerProfile)
    line(
      `  Profiled: this tree's workers run with bun --cpu-prof-md into ${workerProfile} (worker-<rows>.md).`,
    );
  const rowsOut: { rows: number; r: RunFigures; fileBytes: number; old: RunFigures | undefined }[] = [];
  for (const rows of sizes) {
    const today = localToday();
    const path = join(dir, `claims-${rows}.csv`);
    const gen = await generate(path, rows, today);
    line();
    line(
      `  ${int(rows)} rows: ${mib(gen.bytes)} (${int(gen.bytes)} bytes), generated in ${seconds(gen.seconds)}, ` +
        `${int(gen.expected.total)} findings expected, today ${today}`,
    );
    const profile = workerProfile
      ? ["--cpu-prof-md", `--cpu-prof-dir=${workerProfile}`, `--cpu-prof-name=worker-${rows}.md`]
      : [];
    await restartWorker(env, ROOT, profile);
    const r = await measureRun(env, path, gen.expected, LARGE_TIMEOUT_MS);
    let old: RunFigures | undefined;
    if (anchor) {
      await restartWorker(env, anchor);
      old = await measureRun(env, path, gen.expected, LARGE_TIMEOUT_MS);
    }
    if (localToday() !== today) line("  ⚠ the local date changed during the run: the counts may not match");
    rmSync(path, { force: true });
    printRun(`${int(rows)} rows`, r);
    kv("  worker RSS idle → peak (sampled)", `${mib(r.workerIdle)} → ${mib(r.workerPeak)}`);
    kv("  worker VmHWM (reset before)", r.workerHwm === undefined ? "n/a" : mib(r.workerHwm));
    kv(
      "  API RSS idle → peak during upload",
      `${mib(r.apiIdle)} → ${mib(Math.max(r.apiUploadPeak, r.apiUploadHwm ?? 0))}`,
    );
    kv(
      "  CPU seconds",
      `worker ${r.cpu.worker.toFixed(1)} s, API ${r.cpu.api.toFixed(1)} s, Postgres ${r.cpu.postgres.toFixed(1)} s`,
    );
    if (old) {
      printRun(`${int(rows)} rows, anchor's worker`, old);
      kv("  anchor worker RSS idle → peak", `${mib(old.workerIdle)} → ${mib(peakOf(old))}`);
      kv(
        "  anchor worker CPU seconds",
        `${old.cpu.worker.toFixed(1)} s (this tree's: ${r.cpu.worker.toFixed(1)} s)`,
      );
    }
    rowsOut.push({ rows, r, fileBytes: gen.bytes, old });
  }
  line();
  line(
    table([
      [
        "rows",
        "file",
        "total",
        "upload",
        "queue→start",
        "worker",
        "rows/s (worker)",
        "worker peak RSS",
        "API peak (upload)",
        "counts",
        ...(anchor ? ["anchor worker", "anchor peak RSS", "worker / anchor: time", "CPU"] : []),
      ],
      ...rowsOut.map(({ rows, r, fileBytes, old }) => [
        int(rows),
        mib(fileBytes),
        seconds(r.totalS),
        seconds(r.uploadS),
        ms(r.queueToStartMs),
        seconds(r.workerMs / 1000),
        int(rows / (r.workerMs / 1000)),
        mib(peakOf(r)),
        mib(Math.max(r.apiUploadPeak, r.apiUploadHwm ?? 0)),
        r.countsOk ? "match" : "MISMATCH",
        ...(old
          ? [
              seconds(old.workerMs / 1000),
              mib(peakOf(old)),
              `${(r.workerMs / old.workerMs).toFixed(2)} ×${old.countsOk ? "" : " (anchor counts MISMATCH)"}`,
              `${(r.cpu.worker / old.cpu.worker).toFixed(2)} ×`,
            ]
          : []),
      ]),
    ]).replace(/^/gm, "  "),
  );
  const first = rowsOut[0];
  const last = rowsOut.at(-1);
  let flat = "";
  let anchorFlat = "";
  if (first && last && last !== first) {
    const growth = (a: RunFigures, b: RunFigures) =>
      ((((peakOf(b) - peakOf(a)) / (last.rows - first.rows)) * 1e6) / 1024 / 1024).toFixed(0);
    flat = `peak grows ${growth(first.r, last.r)} MiB per million rows (${int(first.rows)} → ${int(last.rows)})`;
    line();
    kv("worker peak vs file size", flat);
    if (first.old && last.old) {
      anchorFlat = `peak grows ${growth(first.old, last.old)} MiB per million rows (${int(first.rows)} → ${int(last.rows)})`;
      kv("anchor worker peak vs file size", anchorFlat);
    }
  }
  for (const { rows, r } of rowsOut) {
    summary.push({
      figure: `${int(rows)} rows upload → completed`,
      result: `${seconds(r.totalS)}${r.countsOk ? "" : " (COUNTS WRONG)"}`,
      goal: rows === GOALS.largeRows ? `≤ ${GOALS.largeS} s` : "—",
      verdict: rows === GOALS.largeRows ? verdict(r.totalS <= GOALS.largeS) : "",
      note: `upload ${seconds(r.uploadS)}, queue→start ${ms(r.queueToStartMs)}, worker ${seconds(r.workerMs / 1000)}; counts ${r.countsOk ? "match" : "MISMATCH"}${r.contention}`,
    });
    summary.push({
      figure: `  worker peak RSS, ${int(rows)} rows`,
      result: `${mib(peakOf(r))} (idle ${mib(r.workerIdle)})`,
      goal: `≤ ${mib(GOALS.workerRssBytes)}, flat`,
      verdict: verdict(peakOf(r) <= GOALS.workerRssBytes),
      note: `API during upload ${mib(Math.max(r.apiUploadPeak, r.apiUploadHwm ?? 0))} (idle ${mib(r.apiIdle)})`,
    });
  }
  if (flat) summary.push({ figure: "  worker peak vs file size", result: flat, goal: "flat", verdict: "" });
  for (const { rows, r, old } of rowsOut) {
    if (!old) continue;
    const ratio = r.workerMs / old.workerMs;
    summary.push({
      figure: `  anchor worker, ${int(rows)} rows`,
      result: `peak ${mib(peakOf(old))}, worker ${seconds(old.workerMs / 1000)}`,
      goal: `time ≤ ${GOALS.anchorTimeRatio} × anchor`,
      verdict: verdict(ratio <= GOALS.anchorTimeRatio),
      note:
        `this tree ${mib(peakOf(r))}, ${seconds(r.workerMs / 1000)} (${ratio.toFixed(2)} × the anchor's time, ` +
        `${(r.cpu.worker / old.cpu.worker).toFixed(2)} × its worker CPU); anchor counts ${old.countsOk ? "match" : "MISMATCH"}${old.contention}`,
    });
  }
  if (anchorFlat)
    summary.push({ figure: "  anchor worker peak vs file size", result: anchorFlat, goal: "", verdict: "" });
}

const peakOf = (r: RunFigures) => Math.max(r.workerPeak, r.workerHwm ?? 0);

// ─── main ───────────────────────────────────────────────────────────────────────────────────────────────────

let natsForCleanup: NatsClient | undefined;

async function cleanup() {
  await stopAll();
  const nats = natsForCleanup ?? createNatsClient({ servers: NATS_URL, name: "bench-validation-cleanup" });
  try {
    const nc = await nats.connection();
    await new Objm(nc)
      .open(bucketName(NAMESPACE))
      .then((os) => os.destroy())
      .catch(() => {});
    const jsm = await nats.manager();
    await deleteStreams(jsm, NAMESPACE);
    // Anything else of this namespace (the bucket's OBJ_ stream if destroy failed, any stream added later).
    const prefix = NAMESPACE.toUpperCase();
    for await (const name of jsm.streams.names())
      if (name.startsWith(prefix) || name === `OBJ_${bucketName(NAMESPACE)}`) await jsm.streams.delete(name);
  } catch (error) {
    console.error(`could not delete the NATS streams of ${NAMESPACE}: ${(error as Error).message}`);
  } finally {
    await nats.close().catch(() => {});
  }
  for (const problem of await dropAll()) console.error(problem);
}

cleanupOnSignals("stopping the services, deleting the streams and dropping the bench databases", cleanup);

async function main(): Promise<number> {
  const args = readArgs();
  const pgVersion = await serverVersion();
  line(`validation benchmarks — ${new Date().toISOString()}`);
  line(
    `Bun ${Bun.version} · ${availableParallelism()} cores · PostgreSQL ${pgVersion} at ${redactedHost(adminUrl)} · NATS at ${NATS_URL} · namespace ${NAMESPACE} · figures: ${args.only.join(", ")}`,
  );
  line(`command: bun bench/validation.ts ${Bun.argv.slice(2).join(" ")}`.trimEnd());
  line(`load average before starting: ${loadAverage()} (other work skews every figure)`);
  const dir = mkdtempSync(join(tmpdir(), "fig-bench-validation-"));
  try {
    const env = await setUp();
    natsForCleanup = env.nats;
    if (args.only.includes("small")) await benchSmall(env, dir, args.smallRows, args.runs);
    if (args.only.includes("large")) await benchLarge(env, dir, args.sizes, args.anchor, args.workerProfile);
  } catch (error) {
    problems.push((error as Error).message);
    console.error(`\nerror: ${(error as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await cleanup();
  }

  heading("Summary (goals are printed, not asserted)");
  line(`command: bun bench/validation.ts ${Bun.argv.slice(2).join(" ")}`.trimEnd());
  return printSummary("Breakdown / notes");
}

// Exit explicitly: keep-alive sockets to the stopped services must not keep the process alive.
process.exit(await main());
