/**
 * reference-data benchmarks, on a real Postgres server. Prints three figures, each with how it was measured:
 *
 *   a. cold   — spawn → first 200 from GET /ready (first start applies migrations; then 5 starts on the
 *               migrated database: median and min). Goal ≤ 300 ms.
 *   b. get    — GET /api/codes/00103 with a viewer token, 50 connections, autocannon (2 s warmup, then
 *               --duration s): average req/s, p50/p99 latency, non-2xx. Goal ≥ 15k req/s. Beside it, in the same
 *               run: the ratio to a bare Bun.serve returning the same bytes (goal ≥ 0.5), the read cache's hit
 *               rate during the measured run (its /metrics gauges), and the invalidation lag: a PATCH on this
 *               replica until a second replica (same database and NATS namespace) serves the new ETag, p50/p99.
 *   c. import — POST /api/codes/import of a generated 100,000-row CSV streamed from a file: seconds and the
 *               service's peak RSS; then the same file again (all rows unchanged). Goal ≤ 5 s.
 *
 * Goals are printed, never asserted: the exit code is non-zero only when something did not work
 * (the service did not start, a check on the responses failed).
 *
 * Usage (from the repository root):
 *   bun bench/reference-data.ts [--only cold|get|import[,…]] [--duration 10]
 * Env: BENCH_DATABASE_URL (else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres): a server
 * where this user may CREATE DATABASE. Every database is named fig_bench_refdata_*_<random> and dropped at the end.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import autocannon, { type Result } from "autocannon";
import { mintDevToken } from "../packages/auth/src/mint.ts";
import { createNatsClient, deleteNamespace } from "../packages/events/src/index.ts";
import { cleanupOnSignals, parseFlags, parseOnly, usageError } from "./lib/cli.ts";
import { percentiles } from "./lib/open-loop.ts";
import {
  adminUrl,
  backendPids,
  createBenchDatabase,
  dropAll,
  dropBenchDatabase,
  serverVersion,
} from "./lib/postgres.ts";
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
const ENTRY = ["bun", "services/dash/reference-data/src/main.ts"];
const SEED_CODES = join(ROOT, "services/dash/reference-data/seed/codes.csv");
const SECRET = `fig-bench-${crypto.randomUUID()}`; // 46 bytes: the verifier wants ≥ 32
const SECTIONS = ["cold", "get", "import"] as const;
type Section = (typeof SECTIONS)[number];

const GOALS = { coldMs: 300, getRps: 15_000, importS: 5, getRatio: 0.5 };
// Every service this bench starts uses a namespace of its own on the shared NATS server; deleted at the end.
const NAMESPACE = `benchrefdata${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
const NATS_URL = process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const LAG_WRITES = 50;
const RATIO_ROUNDS = 3;
const RATIO_ROUND_S = 3;
const COLD_RUNS = 5;
const POLL_MS = 5;
const CONNECTIONS = 50;
const WARMUP_S = 2;
const IMPORT_ROWS = 100_000;
const GET_CODE = "00103";

// ─── arguments ──────────────────────────────────────────────────────────────────────────────────────────────

const USAGE = `usage: bun bench/reference-data.ts [--only cold|get|import[,…]] [--duration <seconds>]
  --only       run only these figures (comma-separated); default: all three
  --duration   seconds of measured load for "get" (default 10; a ${WARMUP_S} s warmup comes first)`;

function readArgs(): { only: Section[]; duration: number } {
  const values = parseFlags(USAGE, ["only", "duration"]);
  const only = parseOnly(USAGE, SECTIONS, values.only);
  const duration = Number(values.duration ?? 10);
  if (!Number.isFinite(duration) || duration < 1)
    usageError(USAGE, "--duration must be a number of seconds ≥ 1");
  return { only, duration };
}

// ─── shared helpers ─────────────────────────────────────────────────────────────────────────────────────────

function startReferenceData(
  databaseUrl: string,
  logLevel: string,
  extra: Record<string, string> = {},
): Service {
  return startService(
    ENTRY,
    serviceEnv({
      PORT: String(freePort()),
      DATABASE_URL: databaseUrl,
      AUTH_DEV_SECRET: SECRET,
      LOG_LEVEL: logLevel,
      FIG_NAMESPACE: NAMESPACE,
      NATS_URL,
      ...extra,
    }),
    ROOT,
  );
}

const token = (role: "viewer" | "editor") =>
  mintDevToken({ secret: SECRET, sub: `bench-${role}`, tenant: "bench", roles: [role], ttl: "2h" });

async function importCodes(
  service: Service,
  editorToken: string,
  path: string,
): Promise<{ status: number; body: Record<string, unknown>; seconds: number }> {
  const started = performance.now();
  const res = await fetch(`${service.baseUrl}/api/codes/import`, {
    method: "POST",
    body: Bun.file(path),
    headers: { "content-type": "text/csv", authorization: `Bearer ${editorToken}` },
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, seconds: (performance.now() - started) / 1000 };
}

type CpuSplit = { service: number; postgres: number; self: number; rest: number; text: string };

/**
 * Where the CPU went while a measurement ran: the service process, the Postgres backends serving the bench
 * database (pids from pg_stat_activity, CPU from /proc), this process (load generator / client), and the rest
 * of the machine (other Postgres work, other people's processes…).
 */
async function cpuMeter(pid: number, database: string): Promise<(wallSeconds: number) => Promise<CpuSplit>> {
  const backendCpu = async () =>
    new Map((await backendPids(database)).map((p) => [p, processCpuSecondsOr0(p)] as const));
  const before = {
    service: processCpuSeconds(pid),
    postgres: await backendCpu(),
    self: process.cpuUsage(),
    machine: machineCpuSeconds(),
  };
  return async (wallSeconds) => {
    const service = processCpuSeconds(pid) - before.service;
    let postgres = 0;
    for (const [p, cpu] of await backendCpu()) postgres += cpu - (before.postgres.get(p) ?? 0);
    const selfUsage = process.cpuUsage(before.self);
    const self = (selfUsage.user + selfUsage.system) / 1e6;
    const rest = Math.max(0, machineCpuSeconds().busy - before.machine.busy - service - postgres - self);
    const cores = (s: number) => (s / wallSeconds).toFixed(2);
    const text =
      `service ${cores(service)}, Postgres ${cores(postgres)}, bench process ${cores(self)}, ` +
      `rest of machine ${cores(rest)} (cores, of ${availableParallelism()})`;
    return { service, postgres, self, rest, text };
  };
}

/** Flags a measurement during which other processes kept more than a quarter of a core busy. */
function contention(split: CpuSplit, wallSeconds: number): string {
  const cores = split.rest / wallSeconds;
  if (cores <= 0.25) return "";
  line(
    `  ⚠ other processes kept ${cores.toFixed(2)} cores busy meanwhile: the wall-clock figure is pessimistic`,
  );
  return ` ⚠ other load ${cores.toFixed(1)} cores`;
}

function processCpuSecondsOr0(pid: number): number {
  try {
    return processCpuSeconds(pid);
  } catch {
    return 0; // the backend exited meanwhile
  }
}

// ─── a. cold start ──────────────────────────────────────────────────────────────────────────────────────────

type ColdRun = { readyMs: number; cpuMs: number; inProcessMs?: number };

async function coldStartOnce(databaseUrl: string): Promise<ColdRun> {
  const service = startReferenceData(databaseUrl, "info"); // info: the "started" line carries in-process ms
  const startedLine = service.waitForLog("started");
  try {
    const readyMs = await waitReady(service, { intervalMs: POLL_MS });
    // CPU the process burnt to get there (10 ms resolution): unlike wall time, not inflated by other load.
    const cpuMs = processCpuSeconds(service.pid) * 1000;
    const started = await Promise.race([startedLine, Bun.sleep(1000).then(() => undefined)]);
    return { readyMs, cpuMs, inProcessMs: typeof started?.ms === "number" ? started.ms : undefined };
  } finally {
    await stopService(service);
  }
}

async function bareBunMs(): Promise<number> {
  const started = performance.now();
  await Bun.spawn(["bun", "-e", "0"], { stdout: "ignore", stderr: "ignore" }).exited;
  return performance.now() - started;
}

async function benchColdStart() {
  heading("a. Cold start to /ready (real Postgres)");
  line(`  How: Bun.spawn("${ENTRY.join(" ")}") with DATABASE_URL → a fresh database;`);
  line(
    `  GET /ready polled every ${POLL_MS} ms; ms from just before spawn to the first 200. LOG_LEVEL=info, so`,
  );
  line(`  the service's own "started" line gives the in-process part (config → db → migrate → listening).`);
  line(
    `  Each run is stopped (SIGTERM) before the next. Run 1 applies the migrations; runs 2–${COLD_RUNS + 1} find`,
  );
  line("  them applied. Also timed: a bare `bun -e 0`, the floor for any Bun process.");
  const db = await createBenchDatabase("refdata_cold");
  try {
    const first = await coldStartOnce(db.url);
    const runs: ColdRun[] = [];
    for (let i = 0; i < COLD_RUNS; i++) runs.push(await coldStartOnce(db.url));
    const bare: number[] = [];
    for (let i = 0; i < 5; i++) bare.push(await bareBunMs());

    const ready = runs.map((r) => r.readyMs);
    const inProcess = runs.map((r) => r.inProcessMs).filter((v): v is number => v !== undefined);
    const med = median(ready);
    const part = (r: ColdRun) => (r.inProcessMs === undefined ? "" : ` (in-process ${ms(r.inProcessMs)})`);
    line();
    kv("first start (applies migrations)", `${ms(first.readyMs)}${part(first)}`);
    kv(`migrated, ${COLD_RUNS} runs`, `${ready.map((v) => Math.round(v)).join(", ")} ms`);
    kv("migrated, median / min", `${ms(med)} / ${ms(Math.min(...ready))}   goal ≤ ${GOALS.coldMs} ms`);
    if (inProcess.length) {
      const inMed = median(inProcess);
      kv("  of which in-process (median)", `${ms(inMed)} (config, db connect, migrate check, listen)`);
      kv("  of which before main.ts runs", `≈ ${ms(med - inMed)} (bun boot + loading the module graph)`);
    }
    kv(
      "service CPU until /ready (median)",
      `${ms(median(runs.map((r) => r.cpuMs)))} (user+sys over all of Bun's threads: the work, whatever the load)`,
    );
    kv("bare `bun -e 0` spawn → exit", `${ms(median(bare))} median (the floor for any Bun process)`);
    summary.push(
      {
        figure: "Cold start → /ready, migrated (median of 5)",
        result: `${ms(med)} (min ${ms(Math.min(...ready))})`,
        goal: `≤ ${GOALS.coldMs} ms`,
        verdict: verdict(med <= GOALS.coldMs),
        note: `CPU to ready ${ms(median(runs.map((r) => r.cpuMs)))}${
          inProcess.length ? `; in-process ${ms(median(inProcess))}, the rest is bun + module loading` : ""
        }`,
      },
      {
        figure: "Cold start → /ready, first (runs migrations)",
        result: ms(first.readyMs),
        goal: "—",
        verdict: "",
      },
    );
  } finally {
    await dropBenchDatabase(db.name);
  }
}

// ─── b. GET /api/codes/{code} ───────────────────────────────────────────────────────────────────────────────

function printLoad(label: string, r: Result) {
  kv(label, `${int(r.requests.average)} req/s average (${int(r.requests.total)} requests)`);
  kv("  latency p50 / p99 / max", `${r.latency.p50} / ${r.latency.p99} / ${r.latency.max} ms`);
  kv("  non-2xx / errors / timeouts", `${r.non2xx} / ${r.errors} / ${r.timeouts}`);
}

/** The read cache's counters from the service's /metrics (0 when it has none: READ_CACHE=off). */
async function cacheCounters(service: Service): Promise<{ hits: number; misses: number }> {
  const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
  const read = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? 0);
  return { hits: read("reference_read_cache_hits"), misses: read("reference_read_cache_misses") };
}

/**
 * PATCH on `writer`, then GET on `reader` (another replica on the same database and namespace, its cache warm)
 * until it answers the PATCH's ETag: ms from the PATCH's answer to the first fresh GET, per write.
 */
/** Waits until `service`'s read cache is following reference.changed (its gauge), so the lag is not a start-up. */
async function waitForCacheOnline(service: Service, viewer: string) {
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const text = await (await fetch(`${service.baseUrl}/metrics`)).text();
    if (/^reference_read_cache_online 1$/m.test(text)) return;
    await fetch(`${service.baseUrl}/api/codes/${GET_CODE}`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    await Bun.sleep(50);
  }
  check(false, "the second replica's read cache did not come online within 30 s");
}

async function invalidationLags(writer: Service, reader: Service, editor: string, viewer: string) {
  const path = `/api/codes/${GET_CODE}`;
  const lags: number[] = [];
  for (let i = 0; i < LAG_WRITES; i++) {
    await fetch(`${reader.baseUrl}${path}`, { headers: { authorization: `Bearer ${viewer}` } });
    const res = await fetch(`${writer.baseUrl}${path}`, {
      method: "PATCH",
      body: JSON.stringify({ tariff_cents: 10_000 + i }),
      headers: { authorization: `Bearer ${editor}`, "if-match": "*", "content-type": "application/json" },
    });
    const etag = res.headers.get("etag");
    await res.arrayBuffer();
    if (!check(res.status === 200 && etag !== null, `PATCH answered ${res.status}`)) return lags;
    const written = performance.now();
    for (;;) {
      const read = await fetch(`${reader.baseUrl}${path}`, {
        headers: { authorization: `Bearer ${viewer}` },
      });
      await read.arrayBuffer();
      if (read.headers.get("etag") === etag) break;
      if (performance.now() - written > 30_000) {
        check(false, "the second replica still served the old version 30 s after the write");
        return lags;
      }
    }
    lags.push(performance.now() - written);
  }
  return lags;
}

async function benchGet(duration: number) {
  const logLevel = "warn";
  heading(`b. GET /api/codes/${GET_CODE} under load (real Postgres)`);
  line(`  How: service on a fresh database, LOG_LEVEL=${logLevel} (no per-request log lines), seeded with`);
  line(
    `  seed/codes.csv via POST /api/codes/import (editor token). autocannon in this process: ${CONNECTIONS}`,
  );
  line(
    `  connections, no pipelining, viewer token, ${WARMUP_S} s warmup (discarded) then ${duration} s measured.`,
  );
  line(`  NOTE: load generator, service and Postgres share the machine's ${availableParallelism()} cores.`);
  const db = await createBenchDatabase("refdata_get");
  const service = startReferenceData(db.url, logLevel);
  let calibration: Service | undefined;
  let replica: Service | undefined;
  let uncached: Service | undefined;
  try {
    await waitReady(service);
    const [editor, viewer] = await Promise.all([token("editor"), token("viewer")]);
    const seeded = await importCodes(service, editor, SEED_CODES);
    if (
      !check(seeded.status === 200, `seed import answered ${seeded.status}: ${JSON.stringify(seeded.body)}`)
    )
      return;
    const url = `${service.baseUrl}/api/codes/${GET_CODE}`;
    const headers = { authorization: `Bearer ${viewer}` };
    const probe = await fetch(url, { headers });
    const sample = await probe.text();
    if (!check(probe.status === 200, `GET ${GET_CODE} answered ${probe.status}: ${sample}`)) return;
    line(`  seeded ${JSON.stringify(seeded.body)}; one response is ${sample.length} bytes of JSON`);

    await autocannon({ url, connections: CONNECTIONS, duration: WARMUP_S, headers });
    const countersBefore = await cacheCounters(service);
    const cpu = await cpuMeter(service.pid, db.name);
    const wall = performance.now();
    const result = await autocannon({ url, connections: CONNECTIONS, duration, headers });
    const wallSeconds = (performance.now() - wall) / 1000;
    const cpuSplit = await cpu(wallSeconds);
    const countersAfter = await cacheCounters(service);
    const hits = countersAfter.hits - countersBefore.hits;
    const lookups = hits + countersAfter.misses - countersBefore.misses;
    const hitRate = lookups > 0 ? hits / lookups : 0;
    line();
    printLoad("measured", result);
    kv(
      "  read cache hit rate",
      lookups > 0
        ? `${(hitRate * 100).toFixed(2)} % of ${int(lookups)} lookups`
        : "no cache (READ_CACHE=off?)",
    );
    kv("  CPU during the run", cpuSplit.text);
    const perRequest = (cpuSeconds: number) => `${Math.round((cpuSeconds / result.requests.total) * 1e6)} µs`;
    kv(
      "  CPU per request",
      `service ${perRequest(cpuSplit.service)}, Postgres ${perRequest(cpuSplit.postgres)}`,
    );
    const getContention = contention(cpuSplit, wallSeconds);
    check(result.non2xx === 0 && result.errors === 0, "some GETs failed (non-2xx or errors)");

    // The same load against a Bun.serve that returns the same bytes without doing anything: the ceiling this
    // load generator reaches on this machine, so the figure above can be read against it.
    const calibrationSeconds = Math.min(duration, 5);
    calibration = startService(
      [
        "bun",
        "-e",
        `const body = ${JSON.stringify(sample)};
         Bun.serve({ port: Number(process.env.PORT), hostname: "127.0.0.1",
           fetch: () => new Response(body, { headers: { "content-type": "application/json" } }) });`,
      ],
      serviceEnv({ PORT: String(freePort()) }),
      ROOT,
    );
    await waitReady(calibration);
    const calUrl = `${calibration.baseUrl}/api/codes/${GET_CODE}`;
    await autocannon({ url: calUrl, connections: CONNECTIONS, duration: 1, headers });
    const ceiling = await autocannon({
      url: calUrl,
      connections: CONNECTIONS,
      duration: calibrationSeconds,
      headers,
    });
    line();
    line(
      `  Ceiling check: same autocannon settings for ${calibrationSeconds} s against a bare Bun.serve returning the`,
    );
    line("  same bytes (no auth, no database):");
    printLoad("bare Bun.serve", ceiling);

    // Ratios side by side: other people's load comes and goes, so the service (cache on), the bare Bun.serve and
    // the same service with READ_CACHE=off (every GET reads Postgres: the cache's anchor) take turns, round by
    // round, and each ratio is the median of its rounds.
    uncached = startReferenceData(db.url, logLevel, { READ_CACHE: "off" });
    await waitReady(uncached);
    const offUrl = `${uncached.baseUrl}/api/codes/${GET_CODE}`;
    await autocannon({ url: offUrl, connections: CONNECTIONS, duration: 1, headers });
    const load = async (target: string) =>
      (await autocannon({ url: target, connections: CONNECTIONS, duration: RATIO_ROUND_S, headers })).requests
        .average;
    const rounds: { on: number; bare: number; off: number }[] = [];
    line();
    line(
      `  Ratio rounds: ${RATIO_ROUNDS} × (cache on, bare Bun.serve, READ_CACHE=off), ${RATIO_ROUND_S} s each, same settings:`,
    );
    for (let i = 0; i < RATIO_ROUNDS; i++) {
      const round = { on: await load(url), bare: await load(calUrl), off: await load(offUrl) };
      rounds.push(round);
      kv(
        `  round ${i + 1}`,
        `cache on ${int(round.on)}, bare ${int(round.bare)}, cache off ${int(round.off)} req/s → ` +
          `${(round.on / round.bare).toFixed(2)} / ${(round.off / round.bare).toFixed(2)}   (load ${loadAverage()})`,
      );
    }
    await stopService(uncached);
    uncached = undefined;
    const ratio = median(rounds.map((r) => r.on / r.bare));
    const offRatio = median(rounds.map((r) => r.off / r.bare));
    kv("ratio to bare Bun.serve (median)", `${ratio.toFixed(2)}   goal ≥ ${GOALS.getRatio}`);
    kv("  READ_CACHE=off (median)", offRatio.toFixed(2));

    line();
    line(
      `  Invalidation lag: a second replica on the same database and namespace; ${LAG_WRITES} times, a PATCH on`,
    );
    line(
      "  the first, then GETs on the second (cache warm) until it serves the PATCH's ETag; ms from the PATCH's answer.",
    );
    replica = startReferenceData(db.url, logLevel);
    await waitReady(replica);
    await waitForCacheOnline(replica, viewer);
    const lags = await invalidationLags(service, replica, editor, viewer);
    const lag = percentiles(lags);
    kv(
      "invalidation lag p50 / p99 / max",
      `${lag.p50.toFixed(1)} / ${lag.p99.toFixed(1)} / ${lag.max.toFixed(1)} ms (${lags.length} writes)`,
    );

    summary.push({
      figure: `GET /api/codes/${GET_CODE}, ${CONNECTIONS} conns, ${duration} s`,
      result: `${int(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, non-2xx ${result.non2xx}`,
      goal: `≥ ${int(GOALS.getRps)} req/s`,
      verdict: verdict(result.requests.average >= GOALS.getRps),
      note: `service ${perRequest(cpuSplit.service)} + Postgres ${perRequest(cpuSplit.postgres)} per request${getContention}`,
    });
    summary.push({
      figure: "  (load-generator ceiling: bare Bun.serve)",
      result: `${int(ceiling.requests.average)} req/s`,
      goal: "—",
      verdict: "",
    });
    summary.push(
      {
        figure: `GET ratio to bare Bun.serve (median of ${RATIO_ROUNDS} rounds)`,
        result: ratio.toFixed(2),
        goal: `≥ ${GOALS.getRatio}`,
        verdict: verdict(ratio >= GOALS.getRatio),
        note: `load average ${loadAverage()}`,
      },
      {
        figure: "  (the same ratio with READ_CACHE=off)",
        result: offRatio.toFixed(2),
        goal: "—",
        verdict: "",
      },
      {
        figure: "  read cache hit rate (measured run)",
        result: `${(hitRate * 100).toFixed(2)} %`,
        goal: "—",
        verdict: "",
      },
      {
        figure: "  invalidation lag, write → other replica fresh",
        result: `p50 ${lag.p50.toFixed(1)} ms, p99 ${lag.p99.toFixed(1)} ms`,
        goal: "—",
        verdict: "",
        note: `${lags.length} PATCHes; includes the outbox relay and JetStream delivery`,
      },
    );
  } finally {
    if (replica) await stopService(replica);
    if (uncached) await stopService(uncached);
    if (calibration) await stopService(calibration);
    await stopService(service);
    await dropBenchDatabase(db.name);
  }
}

// ─── c. import of 100k codes ────────────────────────────────────────────────────────────────────────────────

const CATEGORIES = ["examen", "visite", "consultation", "chirurgie", "anesthésie", "radiologie", "forfait"];
const UNITS = ["acte", "minute", "période", "jour"];
const PLACES = ["cabinet", "etablissement", "both"];
const WORDS = ["Examen", "Visite", "Consultation", "Intervention", "Évaluation", "Suivi", "Prélèvement"];
const QUALIFIERS = ["complet", "de contrôle", "à domicile", "en télémédecine", "d'urgence", "périodique"];

/** Codes 00000–99999 (every 5-digit code there is), all valid, some with quoted commas and accents. */
async function writeCodesCsv(path: string, rows: number): Promise<number> {
  const lines = [
    "code,description,category,tariff_cents,unit,place_of_service,requires_context,max_per_day,effective_from,effective_to,active",
  ];
  for (let i = 0; i < rows; i++) {
    const code = String(i).padStart(5, "0");
    const words = `${WORDS[i % WORDS.length]} ${QUALIFIERS[(i >> 3) % QUALIFIERS.length]} n° ${i}`;
    const description = i % 5 === 0 ? `"${words}, patient inscrit"` : words;
    const year = 2010 + (i % 15);
    const month = String(1 + (i % 12)).padStart(2, "0");
    const day = String(1 + (i % 28)).padStart(2, "0");
    lines.push(
      [
        code,
        description,
        CATEGORIES[i % CATEGORIES.length],
        1000 + (i % 90_000),
        UNITS[i % UNITS.length],
        PLACES[i % PLACES.length],
        i % 4 === 0,
        i % 3 === 0 ? "" : 1 + (i % 4),
        `${year}-${month}-${day}`,
        i % 10 === 0 ? `${year + 5}-12-31` : "",
        i % 17 !== 0,
      ].join(","),
    );
  }
  return Bun.write(path, `${lines.join("\n")}\n`);
}

async function benchImport() {
  const logLevel = "warn";
  heading(`c. Import of ${int(IMPORT_ROWS)} codes (real Postgres)`);
  line(`  How: a generated CSV of codes 00000–99999 (all valid) is POSTed to /api/codes/import with`);
  line(
    "  body: Bun.file(path) (streamed from disk), editor token; seconds from request to parsed JSON response.",
  );
  line(
    `  The service (LOG_LEVEL=${logLevel}) runs on a fresh migrated database; its VmRSS is sampled every 50 ms`,
  );
  line(
    "  during the request, and VmHWM is reset before (clear_refs) and read after. Then the same file again.",
  );
  const db = await createBenchDatabase("refdata_import");
  const service = startReferenceData(db.url, logLevel);
  const dir = mkdtempSync(join(tmpdir(), "fig-bench-"));
  try {
    const path = join(dir, "codes-100k.csv");
    const bytes = await writeCodesCsv(path, IMPORT_ROWS);
    await waitReady(service);
    const editor = await token("editor");
    line(`  file: ${int(IMPORT_ROWS)} rows, ${mib(bytes)} (${int(bytes)} bytes)`);
    const idleRss = procStatusBytes(service.pid, "VmRSS");
    kv("service RSS when idle", mib(idleRss));

    const passes = [
      {
        label: "first import (empty table)",
        expect: { rows: IMPORT_ROWS, inserted: IMPORT_ROWS, updated: 0, unchanged: 0 },
      },
      {
        label: "second import (same file)",
        expect: { rows: IMPORT_ROWS, inserted: 0, updated: 0, unchanged: IMPORT_ROWS },
      },
    ];
    for (const pass of passes) {
      const hwmReset = resetPeakRss(service.pid);
      const sampler = sampleRss(service.pid, 50);
      const cpu = await cpuMeter(service.pid, db.name);
      const wall = performance.now();
      const outcome = await importCodes(service, editor, path);
      const wallSeconds = (performance.now() - wall) / 1000;
      const cpuSplit = await cpu(wallSeconds);
      const sampledPeak = sampler.stop();
      const hwm = hwmReset ? procStatusBytes(service.pid, "VmHWM") : undefined;
      line();
      kv(
        pass.label,
        `${seconds(outcome.seconds)} (${int(IMPORT_ROWS / outcome.seconds)} rows/s)   goal ≤ ${GOALS.importS} s`,
      );
      kv("  response", `${outcome.status} ${JSON.stringify(outcome.body)}`);
      kv("  peak RSS (sampled every 50 ms)", mib(sampledPeak));
      kv("  peak RSS (VmHWM, reset before)", hwmReset ? mib(hwm) : "n/a (clear_refs not permitted)");
      kv("  CPU during the import", cpuSplit.text);
      kv(
        "  CPU seconds",
        `service ${cpuSplit.service.toFixed(2)} s, Postgres ${cpuSplit.postgres.toFixed(2)} s (wall ${seconds(outcome.seconds)})`,
      );
      const importContention = contention(cpuSplit, wallSeconds);
      const countsOk =
        outcome.status === 200 && Object.entries(pass.expect).every(([k, v]) => outcome.body[k] === v);
      check(countsOk, `${pass.label}: expected 200 ${JSON.stringify(pass.expect)}`);
      summary.push({
        figure: `Import ${int(IMPORT_ROWS)} codes, ${pass.label.replace(/ import/, "")}`,
        result: `${seconds(outcome.seconds)}, peak RSS ${mib(Math.max(sampledPeak, hwm ?? 0))}${countsOk ? "" : " (COUNTS WRONG)"}`,
        goal: `≤ ${GOALS.importS} s`,
        verdict: verdict(outcome.seconds <= GOALS.importS),
        note: `service ${cpuSplit.service.toFixed(1)} s + Postgres ${cpuSplit.postgres.toFixed(1)} s${importContention}`,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await stopService(service);
    await dropBenchDatabase(db.name);
  }
}

// ─── main ───────────────────────────────────────────────────────────────────────────────────────────────────

async function cleanup() {
  await stopAll();
  for (const problem of await dropAll()) console.error(problem);
  const nats = createNatsClient({ servers: NATS_URL, name: "bench-reference-data-cleanup" });
  await deleteNamespace(await nats.manager(), NAMESPACE).catch((error) => console.error(String(error)));
  await nats.close();
}

cleanupOnSignals("stopping the services and dropping the bench databases", cleanup);

async function main(): Promise<number> {
  const { only, duration } = readArgs();
  const pgVersion = await serverVersion();
  line(`reference-data benchmarks — ${new Date().toISOString()}`);
  line(
    `Bun ${Bun.version} · ${availableParallelism()} cores · PostgreSQL ${pgVersion} at ${redactedHost(adminUrl)} · figures: ${only.join(", ")}`,
  );

  line(`load average before starting: ${loadAverage()} (other work skews every figure)`);

  try {
    if (only.includes("cold")) await benchColdStart();
    if (only.includes("get")) await benchGet(duration);
    if (only.includes("import")) await benchImport();
  } catch (error) {
    problems.push((error as Error).message);
    console.error(`\nerror: ${(error as Error).message}`);
  } finally {
    await cleanup();
  }

  heading("Summary (goals are printed, not asserted)");
  return printSummary("CPU cost / notes");
}

// Exit explicitly: keep-alive sockets to the stopped services must not keep the process alive.
process.exit(await main());
