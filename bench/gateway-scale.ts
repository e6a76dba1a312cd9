/**
 * The gateway on one host as 1 and as N processes sharing its port (FIG_GATEWAY_PROCESSES, SO_REUSEPORT), in
 * front of the same fixed upstream as bench/gateway.ts (bench/lib/upstream.ts: 1,024 bytes of JSON to every
 * GET), measured the same way: wrk, 50 connections, one Authorization header, a reference-data path (auth,
 * rate limit set high, weights 50/50 over two names of the upstream). Runs are interleaved (direct, 1
 * process, N processes; again) and each throughput is taken against the direct run of its own round;
 * medians over --rounds. Both gateways share one KV namespace: one weight change, through the first, sets
 * the state every process routes by.
 *
 * Printed for each: req/s, the ratio to direct, p50/p99, and CPU per request (every gateway process's
 * user+sys ÷ requests), plus how the kernel split the N processes' work (each one's CPU share). The
 * machine's load average is printed before each round: wrk, the upstream and every gateway process share
 * its cores, so N processes gain only where a core is free.
 *
 * Usage (from the repository root; needs `apt-get install -y wrk`):
 *   bun bench/gateway-scale.ts [--processes 2] [--duration 10] [--rounds 3] [--threads 2] [--connections 50]
 * Env: BENCH_NATS_URL (else NATS_URL, else 127.0.0.1:4222); the gateways run with FIG_NAMESPACE=bench<random>,
 * whose streams are deleted at the end (also after a failure or Ctrl-C).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { mintDevToken } from "../packages/auth/src/mint.ts";
import { cleanupOnSignals, parseFlags, usageError } from "./lib/cli.ts";
// The NATS client is a dependency of packages/events, not of the root: import it from there.
import { deleteBenchNamespace, splitReferenceData } from "./lib/gateway-admin.ts";
import {
  check,
  heading,
  int,
  line,
  loadAverage,
  median,
  printSummary,
  problems,
  summary,
} from "./lib/report.ts";
import {
  freePort,
  machineCpuSeconds,
  processCpuSeconds,
  type Service,
  serviceEnv,
  startService,
  stopAll,
  stopService,
  waitReady,
} from "./lib/service.ts";
import { upstreamBody } from "./lib/upstream.ts";
import { runWrk, type WrkResult, writeWrkScript, wrkVersion } from "./lib/wrk.ts";

const ROOT = resolve(import.meta.dir, "..");
const GATEWAY_ENTRY = "services/gateway/src/main.ts";
const NATS_URL = process.env.BENCH_NATS_URL ?? process.env.NATS_URL ?? "127.0.0.1:4222";
const RUN = crypto.randomUUID().replace(/-/g, "").slice(0, 8);
const NAMESPACE = `bench${RUN}sc`;
const SECRET = `fig-bench-${crypto.randomUUID()}`; // 46 bytes: the verifier wants ≥ 32
const GET_PATH = "/api/codes/00103";
const PROCESS_HEADER = "fig-gateway-process";
const WARMUP_S = 2;
const MAX_WARMUP_S = 15;

const USAGE = `usage: bun bench/gateway-scale.ts [--processes <n>] [--duration <s>] [--rounds <n>] [--threads <n>] [--connections <n>]
  --processes    the gateway processes compared with one (default 2)
  --duration     seconds of each measured run (default 10; each target is warmed first)
  --rounds       interleaved rounds (default 3; medians are reported)
  --threads      wrk threads (default 2)
  --connections  wrk connections (default 50, as bench/gateway.ts)`;

type Args = { processes: number; duration: number; rounds: number; threads: number; connections: number };

function readArgs(): Args {
  const values = parseFlags(USAGE, ["processes", "duration", "rounds", "threads", "connections"]);
  const number = (name: keyof typeof values, fallback: number, min: number) => {
    const value = Number(values[name] ?? fallback);
    if (!Number.isInteger(value) || value < min) usageError(USAGE, `--${name} must be an integer ≥ ${min}`);
    return value;
  };
  return {
    processes: number("processes", 2, 2),
    duration: number("duration", 10, 1),
    rounds: number("rounds", 3, 1),
    threads: number("threads", 2, 1),
    connections: number("connections", 50, 1),
  };
}

// ─── the processes ──────────────────────────────────────────────────────────────────────────────────────────

type Target = { name: string; label: string; service: Service; url: string; processes: number };

/** The gateway as bench/gateway.ts starts it, as `processes` processes on one port. */
function startGateway(upstream: Service, processes: number): Service {
  return startService(
    ["bun", GATEWAY_ENTRY],
    serviceEnv({
      PORT: String(freePort()),
      NATS_URL,
      FIG_NAMESPACE: NAMESPACE,
      FIG_GATEWAY_PROCESSES: String(processes),
      AUTH_DEV_SECRET: SECRET,
      LOG_LEVEL: "warn",
      MONOLITH_URL: upstream.baseUrl,
      REFERENCE_DATA_URL: upstream.baseUrl,
      VALIDATION_URL: upstream.baseUrl,
      RATE_LIMIT_PER_MINUTE: String(1_000_000_000),
    }),
    ROOT,
  );
}

/** Process 0 and the processes it started (every thread's children, from /proc). */
function gatewayPids(target: Target): number[] {
  const pid = target.service.pid;
  if (target.processes === 1) return [pid];
  const children = readdirSync(`/proc/${pid}/task`).flatMap((task) =>
    readFileSync(`/proc/${pid}/task/${task}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number),
  );
  return [pid, ...children];
}

const operatorToken = () =>
  mintDevToken({ secret: SECRET, sub: "bench-operator", tenant: "platform", roles: ["operator"], ttl: "2h" });

/** Weighted routing on, as in bench/gateway.ts; written once, through `gateway`, into the shared bucket. */
async function setWeights(gateway: Service): Promise<void> {
  await splitReferenceData(gateway.baseUrl, await operatorToken());
}

/**
 * Every process of `target` answers GET_PATH with the upstream's bytes, on connections of their own (the
 * kernel picks a process per connection); processes 1 … N-1 start after process 0 is ready, so this waits
 * for them up to 30 s. Returns whether all were seen.
 */
async function verifyTarget(target: Target, authorization: string): Promise<boolean> {
  const expected = upstreamBody();
  const seen = new Set<string>();
  const deadline = Date.now() + 30_000;
  while (seen.size < target.processes && Date.now() < deadline) {
    const res = await fetch(target.url, { headers: { authorization }, keepalive: false });
    const body = await res.text();
    if (!check(res.status === 200 && body === expected, `${target.label}: GET answered ${res.status}`))
      return false;
    seen.add(res.headers.get(PROCESS_HEADER) ?? "0");
    if (seen.size < target.processes) await Bun.sleep(20);
  }
  return check(
    seen.size === target.processes,
    `${target.label}: only processes ${[...seen].join(", ")} answered within 30 s`,
  );
}

// ─── measuring ──────────────────────────────────────────────────────────────────────────────────────────────

/** `idle`: the share of the machine's CPU nobody used during the run (what a second process could take). */
type Run = { wrk: WrkResult; cpuSeconds: number[]; idle: number };

async function measure(target: Target, script: string, args: Args, seconds = args.duration): Promise<Run> {
  const pids = target.name === "direct" ? [target.service.pid] : gatewayPids(target);
  const before = pids.map(processCpuSeconds);
  const machine = machineCpuSeconds();
  const wrk = await runWrk({
    url: target.url,
    script,
    connections: args.connections,
    threads: args.threads,
    seconds,
  });
  const after = machineCpuSeconds();
  const total = after.total - machine.total;
  return {
    wrk,
    cpuSeconds: pids.map((pid, i) => processCpuSeconds(pid) - (before[i] ?? 0)),
    idle: total > 0 ? 1 - (after.busy - machine.busy) / total : 0,
  };
}

/** As bench/gateway.ts: 1 s runs until two in a row agree within 5 % (the JIT needs seconds of load). */
async function warmUp(target: Target, script: string, args: Args): Promise<void> {
  await measure(target, script, args, WARMUP_S);
  let previous = 0;
  for (let s = WARMUP_S; s < MAX_WARMUP_S; s++) {
    const { wrk } = await measure(target, script, args, 1);
    if (previous > 0 && Math.abs(wrk.rps - previous) / previous < 0.05) return;
    previous = wrk.rps;
  }
}

type Row = {
  rps: number;
  ratio: number;
  p50: number;
  p99: number;
  cpuUs: number;
  shares: number[];
  idle: number;
};

async function benchScale(args: Args) {
  heading(`Throughput: the gateway as 1 and as ${args.processes} processes on one port, ÷ direct`);
  line(
    "  How: bench/gateway.ts's ratio method. One fixed upstream; the gateway (dev-JWT auth, rate limit on",
  );
  line("  and high, reference-data weighted 50/50 over two names of the upstream) started once with");
  line(
    `  FIG_GATEWAY_PROCESSES=1 and once with ${args.processes} (SO_REUSEPORT: the kernel spreads wrk's connections).`,
  );
  line(
    `  wrk -t${args.threads} -c${args.connections} -d${args.duration}s; each target warmed until two 1 s runs agree within 5 %; ${args.rounds} rounds`,
  );
  line("  interleaved (direct, 1 process, N processes); ratios against the direct run of their own round.");
  line(
    `  NOTE: wrk, the upstream and every gateway process share the machine's ${availableParallelism()} cores (with other work).`,
  );

  const upstream = startService(
    ["bun", "bench/lib/upstream.ts"],
    serviceEnv({ PORT: String(freePort()) }),
    ROOT,
  );
  const started: Service[] = [upstream];
  try {
    await waitReady(upstream);
    const one = startGateway(upstream, 1);
    started.push(one);
    await waitReady(one);
    await setWeights(one);
    const many = startGateway(upstream, args.processes);
    started.push(many);
    await waitReady(many);
    const targets: Target[] = [
      {
        name: "direct",
        label: "direct (no proxy)",
        service: upstream,
        url: `${upstream.baseUrl}${GET_PATH}`,
        processes: 1,
      },
      {
        name: "gateway×1",
        label: "Fig gateway, 1 process",
        service: one,
        url: `${one.baseUrl}${GET_PATH}`,
        processes: 1,
      },
      {
        name: `gateway×${args.processes}`,
        label: `Fig gateway, ${args.processes} processes`,
        service: many,
        url: `${many.baseUrl}${GET_PATH}`,
        processes: args.processes,
      },
    ];
    const token = await mintDevToken({
      secret: SECRET,
      sub: "bench-viewer",
      tenant: "bench",
      roles: ["viewer"],
      ttl: "2h",
    });
    const authorization = `Bearer ${token}`;
    const script = writeWrkScript(scratchDir(), "get", { authorization });
    for (const target of targets) if (!(await verifyTarget(target, authorization))) return;
    for (const target of targets) await warmUp(target, script, args);

    const rows = new Map<string, Row[]>();
    for (let round = 1; round <= args.rounds; round++) {
      const load = loadAverage();
      let directRps = 0;
      const cells: string[] = [];
      for (const target of targets) {
        const { wrk, cpuSeconds, idle } = await measure(target, script, args);
        check(
          wrk.non2xx === 0 && wrk.errors === 0,
          `${target.label}: ${wrk.non2xx} non-2xx, ${wrk.errors} errors`,
        );
        if (target.name === "direct") directRps = wrk.rps;
        const total = cpuSeconds.reduce((a, b) => a + b, 0);
        const row: Row = {
          rps: wrk.rps,
          ratio: wrk.rps / directRps,
          p50: wrk.p50,
          p99: wrk.p99,
          cpuUs: (total / wrk.requests) * 1e6,
          shares: cpuSeconds.map((s) => (total > 0 ? s / total : 0)),
          idle,
        };
        rows.set(target.name, [...(rows.get(target.name) ?? []), row]);
        cells.push(
          `${target.name} ${int(wrk.rps)}${target.name === "direct" ? "" : ` (${row.ratio.toFixed(2)})`}`,
        );
      }
      line(`  round ${round} (load ${load}): ${cells.join(", ")} req/s`);
    }

    line();
    line(
      `  ${"target".padEnd(30)} ${"req/s (median)".padStart(14)} ${"ratio".padStart(6)} ${"ratios".padEnd(18)} ${"p50/p99 ms".padEnd(13)} ${"CPU/req".padStart(8)} ${"idle".padStart(5)}  CPU split`,
    );
    const medians: Record<string, { rps: number; ratio: number }> = {};
    for (const target of targets) {
      const list = rows.get(target.name) ?? [];
      const ratio = median(list.map((r) => r.ratio));
      const rps = median(list.map((r) => r.rps));
      medians[target.name] = { rps, ratio };
      const split =
        target.processes > 1
          ? list
              .at(-1)
              ?.shares.map((s) => `${Math.round(s * 100)} %`)
              .join(" / ")
          : "";
      line(
        `  ${target.label.padEnd(30)} ${int(rps).padStart(14)} ${
          target.name === "direct" ? "".padStart(6) : ratio.toFixed(2).padStart(6)
        } ${(target.name === "direct" ? "" : list.map((r) => r.ratio.toFixed(2)).join(" ")).padEnd(18)} ${`${median(
          list.map((r) => r.p50),
        ).toFixed(2)}/${median(list.map((r) => r.p99)).toFixed(1)}`.padEnd(13)} ${`${Math.round(
          median(list.map((r) => r.cpuUs)),
        )} µs`.padStart(
          8,
        )} ${`${Math.round(median(list.map((r) => r.idle)) * 100)} %`.padStart(5)}  ${split ?? ""}`,
      );
    }
    line(
      "  (CPU/req: every gateway process's user+sys ÷ requests; for direct, the upstream's. CPU split: each",
    );
    line("  gateway process's share of that CPU in the last round, process 0 first. idle: the machine's CPU");
    line("  nobody used during the runs, median: all a second process could add.)");
    line(`  load average after: ${loadAverage()}`);

    const single = medians["gateway×1"] ?? { rps: 0, ratio: 0 };
    const multi = medians[`gateway×${args.processes}`] ?? { rps: 0, ratio: 0 };
    summary.push(
      {
        figure: "Throughput ratio, Fig gateway, 1 process",
        result: `${single.ratio.toFixed(2)} (median of ${args.rounds})`,
        goal: "—",
        verdict: "",
        note: `${int(single.rps)} req/s`,
      },
      {
        figure: `Throughput ratio, Fig gateway, ${args.processes} processes`,
        result: `${multi.ratio.toFixed(2)} (median of ${args.rounds})`,
        goal: "—",
        verdict: "",
        note: `${int(multi.rps)} req/s`,
      },
      {
        figure: `Gateway ${args.processes} processes ÷ 1 process`,
        result: `${(multi.ratio / single.ratio).toFixed(2)} ×`,
        goal: "—",
        verdict: "",
        note: `${availableParallelism()} cores, shared with wrk and the upstream`,
      },
    );
  } finally {
    for (const service of started.reverse()) await stopService(service, 15_000);
  }
}

// ─── main ───────────────────────────────────────────────────────────────────────────────────────────────────

let dir = "";
const scratchDir = () => {
  dir ||= mkdtempSync(join(tmpdir(), "fig-bench-gateway-scale-"));
  return dir;
};

async function deleteNamespaceStreams(): Promise<void> {
  await deleteBenchNamespace(NATS_URL, NAMESPACE, "bench-gateway-scale-cleanup");
}

async function cleanup() {
  await stopAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await deleteNamespaceStreams().catch((error: Error) =>
    console.error(`could not delete the streams of namespace ${NAMESPACE}: ${error.message}`),
  );
}

cleanupOnSignals("stopping the gateways and deleting the bench streams", cleanup);

async function main(): Promise<number> {
  const args = readArgs();
  const wrk = await wrkVersion();
  line(`gateway scale benchmark — ${new Date().toISOString()}`);
  line(
    `Bun ${Bun.version} · ${availableParallelism()} cores · ${wrk ?? "wrk MISSING"} · NATS ${NATS_URL} · namespace ${NAMESPACE}`,
  );
  line(`load average before starting: ${loadAverage()} (other work skews every figure)`);
  if (!wrk) {
    console.error("error: needs wrk: apt-get update && apt-get install -y wrk");
    return 2;
  }
  try {
    await benchScale(args);
  } catch (error) {
    problems.push((error as Error).message);
    console.error(`\nerror: ${(error as Error).message}`);
  } finally {
    await cleanup();
  }
  heading("Summary (figures, no goal: on a loaded 2-core machine N processes may not beat 1)");
  return printSummary("Notes");
}

// Exit explicitly: keep-alive sockets to the stopped processes must not keep the process alive.
process.exit(await main());
