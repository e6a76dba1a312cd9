/**
 * gateway benchmarks (services/gateway), every proxy in front of one fixed upstream (bench/lib/upstream.ts: a
 * Bun.serve answering the same 1,024-byte JSON to every GET, discarding request bodies). Prints, each with how
 * it was measured:
 *
 *   ratio   — throughput through each proxy ÷ throughput straight to the upstream, wrk, 50 connections, in ONE
 *             run: direct, nginx (proxy_pass, upstream keepalive), haproxy, a bare Bun.serve → fetch proxy,
 *             hono/proxy and the gateway (auth with a dev JWT, rate limiting with a high limit, weighted
 *             routing 50/50 over two upstream names that both point at the fixed upstream). The runs are
 *             interleaved (direct, nginx, haproxy, bare, hono, gateway; then again) and each ratio is taken
 *             against the direct run of its own round; medians over --rounds. Goal: gateway ≥ nginx.
 *   latency — added p50/p99 at a constant 3,000 requests/s (open loop, bench/lib/open-loop.ts: Debian has no
 *             wrk2), through the target vs straight to the upstream, interleaved, medians over --rounds.
 *   memory  — the target's VmRSS idle, under wrk load, and during a 200 MB upload streamed through it to the
 *             upstream (which counts and discards the bytes).
 *   profile — the target under wrk load with `bun --cpu-prof-md`: the top functions by self time, by package;
 *             perf (software clock) beside it: kernel / libc / bun / JIT split.
 *   breakdown — CPU per request of five processes that each add one layer of the gateway's request path
 *             (bare proxy → header work → proxy handler + policies → createApp middleware → the real process).
 *
 * Goals are printed, never asserted: the exit code is non-zero only when something did not work (a proxy did
 * not start, a response was wrong, the upload lost bytes).
 *
 * Usage (from the repository root; needs `apt-get install -y nginx-light haproxy wrk`):
 *   bun bench/gateway.ts [--only ratio|latency|memory|profile|breakdown[,…]] [--duration 10] [--rounds 3]
 *                        [--target gateway|bare|hono] [--threads 2] [--rate 3000] [--upload-mb 200]
 * Env: BENCH_NATS_URL (else NATS_URL, else 127.0.0.1:4222): the JetStream server the gateway keeps its route
 * state in (KV); the gateway runs with FIG_NAMESPACE=bench<random> and that namespace's streams are deleted at
 * the end (also after a failure or Ctrl-C). nginx/haproxy configs are generated into a temp dir.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { mintDevToken } from "../packages/auth/src/mint.ts";
// The NATS client is a dependency of packages/events, not of the root: import it from there.
import { startHaproxy, startNginx, toolVersion } from "./lib/anchors.ts";
import { cleanupOnSignals, parseFlags, parseOnly, usageError } from "./lib/cli.ts";
import { deleteBenchNamespace, splitReferenceData } from "./lib/gateway-admin.ts";
import { type OpenLoopResult, runOpenLoop } from "./lib/open-loop.ts";
import {
  check,
  heading,
  int,
  kv,
  line,
  loadAverage,
  median,
  mib,
  printSummary,
  problems,
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
import { upstreamBody } from "./lib/upstream.ts";
import { runWrk, type WrkResult, writeWrkScript, wrkVersion } from "./lib/wrk.ts";

const ROOT = resolve(import.meta.dir, "..");
const GATEWAY_ENTRY = "services/gateway/src/main.ts";
const NATS_URL = process.env.BENCH_NATS_URL ?? process.env.NATS_URL ?? "127.0.0.1:4222";
const RUN = crypto.randomUUID().replace(/-/g, "").slice(0, 8);
const NAMESPACE = `bench${RUN}gw`;
/** The --anchor checkout's gateway keeps its route state apart from this tree's. */
const ANCHOR_NAMESPACE = `bench${RUN}gwa`;
const SECRET = `fig-bench-${crypto.randomUUID()}`; // 46 bytes: the verifier wants ≥ 32
const SECTIONS = ["ratio", "latency", "memory", "profile", "breakdown"] as const;
type Section = (typeof SECTIONS)[number];
const TARGETS = ["gateway", "bare", "hono"] as const;
type TargetKind = (typeof TARGETS)[number];

const CONNECTIONS = 50;
const WARMUP_S = 2;
const MAX_WARMUP_S = 15;
const UPLOAD_CHUNK = 64 * 1024;
/** A reference-data path: a carved-out route, so weights, auth and the rate limit apply. */
const GET_PATH = "/api/codes/00103";
/** A write on the default route (monolith): the upload goes to the write owner, the fixed upstream. */
const UPLOAD_PATH = "/api/bench/upload";
/** The issue's figures for this kind of machine (throughput ÷ direct). */
const REFERENCE = { nginx: "0.43–0.51", haproxy: "0.44–0.52", bare: "0.36", hono: "0.29–0.32" };

// ─── arguments ──────────────────────────────────────────────────────────────────────────────────────────────

const USAGE = `usage: bun bench/gateway.ts [--only ratio|latency|memory|profile|breakdown[,…]] [--duration <s>] [--rounds <n>]
                            [--target gateway|bare|hono] [--threads <n>] [--rate <req/s>] [--upload-mb <MiB>]
                            [--anchor <checkout>]
  --only       run only these figures (comma-separated); default: all five
  --duration   seconds of each measured run (default 10; each proxy gets a ${WARMUP_S} s warmup first)
  --rounds     interleaved rounds for ratio and latency (default 3; medians are reported)
  --target     what latency, memory and profile measure (default gateway; bare/hono test the harness)
  --threads    wrk threads (default 2, wrk's default)
  --rate       requests/s for latency (default 3000)
  --upload-mb  size of the upload for memory, MiB (default 200)
  --log-level  the gateway's LOG_LEVEL (default info: the access log on, as in production; warn: off)
  --anchor     ratio only: also run the gateway of another checkout of this repository (a git worktree of an
               older commit, installed) in the same interleaved rounds, and print this gateway ÷ that one`;

type Args = {
  logLevel: string;
  only: Section[];
  duration: number;
  rounds: number;
  target: TargetKind;
  threads: number;
  rate: number;
  uploadBytes: number;
  anchor: string | undefined;
};

function readArgs(): Args {
  const values = parseFlags(USAGE, [
    "only",
    "duration",
    "rounds",
    "target",
    "threads",
    "rate",
    "upload-mb",
    "log-level",
    "anchor",
  ]);
  const only = parseOnly(USAGE, SECTIONS, values.only);
  const number = (name: string, raw: string | undefined, fallback: number, min: number) => {
    const value = Number(raw ?? fallback);
    if (!Number.isFinite(value) || value < min) usageError(USAGE, `--${name} must be a number ≥ ${min}`);
    return value;
  };
  const target = (values.target ?? "gateway") as TargetKind;
  if (!TARGETS.includes(target)) usageError(USAGE, `--target takes ${TARGETS.join(", ")}`);
  const anchor = values.anchor ? resolve(values.anchor) : undefined;
  if (anchor !== undefined && !existsSync(join(anchor, GATEWAY_ENTRY)))
    usageError(USAGE, `--anchor ${anchor} has no ${GATEWAY_ENTRY}: give a checkout of this repository`);
  return {
    only,
    target,
    duration: number("duration", values.duration, 10, 1),
    rounds: Math.round(number("rounds", values.rounds, 3, 1)),
    threads: Math.round(number("threads", values.threads, 2, 1)),
    rate: number("rate", values.rate, 3000, 1),
    uploadBytes: Math.round(number("upload-mb", values["upload-mb"], 200, 1) * 1024 * 1024),
    logLevel: values["log-level"] ?? "info",
    anchor,
  };
}

// ─── the processes ──────────────────────────────────────────────────────────────────────────────────────────

type Proxy = { name: string; label: string; service: Service; url: string };

let dir = "";
const tempDir = () => {
  dir ||= mkdtempSync(join(tmpdir(), "fig-bench-gateway-"));
  return dir;
};

function startUpstream(): Service {
  return startService(["bun", "bench/lib/upstream.ts"], serviceEnv({ PORT: String(freePort()) }), ROOT);
}

function startBunProxy(mode: "bare" | "hono", upstream: Service, bunFlags: string[] = []): Service {
  return startService(
    ["bun", ...bunFlags, "bench/lib/bun-proxies.ts"],
    serviceEnv({ PORT: String(freePort()), MODE: mode, TARGET: upstream.baseUrl }),
    ROOT,
  );
}

const gatewayBuilt = () => existsSync(join(ROOT, GATEWAY_ENTRY));

/**
 * The gateway as it runs in production: its own process, route state in NATS KV (namespace of this run), every
 * upstream URL pointing at the fixed upstream, a rate limit far above what the load reaches (so the limiter
 * runs on every request but never answers 429), and the access log on (LOG_LEVEL=info: one JSON line per
 * request to stdout, a pipe this script drains).
 */
let gatewayLogLevel = "info";
/** The reference proxies found at start (the Bun rows run without them). */
const installed = { nginx: true, haproxy: true };

function startGateway(
  upstream: Service,
  bunFlags: string[] = [],
  { root = ROOT, namespace = NAMESPACE } = {},
): Service {
  return startService(
    ["bun", ...bunFlags, GATEWAY_ENTRY],
    serviceEnv({
      PORT: String(freePort()),
      NATS_URL,
      FIG_NAMESPACE: namespace,
      AUTH_DEV_SECRET: SECRET,
      LOG_LEVEL: gatewayLogLevel,
      MONOLITH_URL: upstream.baseUrl,
      REFERENCE_DATA_URL: upstream.baseUrl,
      VALIDATION_URL: upstream.baseUrl,
      RATE_LIMIT_PER_MINUTE: String(1_000_000_000),
    }),
    root,
  );
}

const token = (role: "viewer" | "editor" | "admin") =>
  mintDevToken({ secret: SECRET, sub: `bench-${role}`, tenant: "bench", roles: [role], ttl: "2h" });

/** Weighted routing on: the reference-data route split 50/50 between two names of the same upstream. */
async function setWeights(gateway: Service): Promise<void> {
  // The admin API is an operator's: role operator in the operator tenant (platform by default).
  const token = await mintDevToken({
    secret: SECRET,
    sub: "bench-operator",
    tenant: "platform",
    roles: ["operator"],
    ttl: "2h",
  });
  await splitReferenceData(gateway.baseUrl, token);
}

/** Checks that `proxy` answers GET_PATH with the upstream's bytes (and, for the gateway, that policies run). */
async function verifyProxy(proxy: Proxy, authorization: string): Promise<boolean> {
  const expected = upstreamBody();
  const res = await fetch(proxy.url, { headers: { authorization } });
  const body = await res.text();
  let ok = check(
    res.status === 200 && body === expected,
    `${proxy.label}: GET ${GET_PATH} answered ${res.status} with ${body.length} bytes (${body.slice(0, 120)})`,
  );
  if (proxy.name !== "gateway" && proxy.name !== "anchor") return ok;
  ok &&= check(res.headers.has("fig-served-by"), "gateway: no Fig-Served-By header");
  ok &&= check(res.headers.has("ratelimit-limit"), "gateway: no RateLimit-Limit header (rate limiting off?)");
  const anonymous = await fetch(proxy.url);
  await anonymous.arrayBuffer();
  ok &&= check(
    anonymous.status === 401,
    `gateway: GET without a token answered ${anonymous.status}, not 401`,
  );
  return ok;
}

async function startTarget(kind: TargetKind, upstream: Service, bunFlags: string[] = []): Promise<Proxy> {
  if (kind === "gateway" && !gatewayBuilt())
    throw new Error(`${GATEWAY_ENTRY} does not exist yet: use --target bare|hono to test the harness`);
  const service =
    kind === "gateway" ? startGateway(upstream, bunFlags) : startBunProxy(kind, upstream, bunFlags);
  await waitReady(service);
  if (kind === "gateway") await setWeights(service);
  return { name: kind, label: LABELS[kind], service, url: `${service.baseUrl}${GET_PATH}` };
}

const LABELS: Record<"direct" | "nginx" | "haproxy" | TargetKind, string> = {
  direct: "direct (no proxy)",
  nginx: "nginx proxy_pass + keepalive",
  haproxy: "haproxy",
  bare: "bare Bun.serve → fetch",
  hono: "hono/proxy",
  gateway: "Fig gateway",
};

/** Deletes the JetStream streams and KV buckets of this run's namespace. */
async function deleteNamespaceStreams(): Promise<void> {
  await deleteBenchNamespace(NATS_URL, NAMESPACE, "bench-gateway-cleanup");
  await deleteBenchNamespace(NATS_URL, ANCHOR_NAMESPACE, "bench-gateway-cleanup");
}

// ─── CPU accounting ─────────────────────────────────────────────────────────────────────────────────────────

type CpuSplit = { proxy: number; upstream: number; wrk: number; rest: number };

function cpuMeter(
  proxyPid: number | undefined,
  upstreamPid: number,
): () => Omit<CpuSplit, "wrk" | "rest"> & {
  busy: number;
} {
  const read = () => ({
    proxy: proxyPid === undefined ? 0 : processCpuSeconds(proxyPid),
    upstream: processCpuSeconds(upstreamPid),
    busy: machineCpuSeconds().busy,
  });
  const before = read();
  return () => {
    const after = read();
    return {
      proxy: after.proxy - before.proxy,
      upstream: after.upstream - before.upstream,
      busy: after.busy - before.busy,
    };
  };
}

/** One wrk run against `proxy`, with the CPU each party used (wrk's own from its rusage). */
async function measure(
  proxy: Proxy,
  upstream: Service,
  script: string,
  args: Args,
  seconds = args.duration,
): Promise<{ wrk: WrkResult; cpu: CpuSplit }> {
  const meter = cpuMeter(proxy.name === "direct" ? undefined : proxy.service.pid, upstream.pid);
  const selfBefore = process.cpuUsage();
  const wrk = await runWrk({
    url: proxy.url,
    script,
    connections: CONNECTIONS,
    threads: args.threads,
    seconds,
  });
  const used = meter();
  const self = process.cpuUsage(selfBefore);
  const rest = Math.max(
    0,
    used.busy - used.proxy - used.upstream - wrk.cpuSeconds - (self.user + self.system) / 1e6,
  );
  return { wrk, cpu: { proxy: used.proxy, upstream: used.upstream, wrk: wrk.cpuSeconds, rest } };
}

/**
 * Warms a target until its throughput settles: 1 s wrk runs until two in a row agree within 5 % (at least
 * WARMUP_S, at most MAX_WARMUP_S seconds). A JIT-compiled proxy (Bun) needs several seconds of load
 * before its hot path is optimised — the gateway's took ~6 s here — while a long-running one is always
 * warm; a fixed 2 s warmup measured the gateway half cold.
 */
async function warmUp(proxy: Proxy, upstream: Service, script: string, args: Args): Promise<void> {
  await measure(proxy, upstream, script, args, WARMUP_S);
  let previous = 0;
  for (let s = WARMUP_S; s < MAX_WARMUP_S; s++) {
    const { wrk } = await measure(proxy, upstream, script, args, 1);
    if (previous > 0 && Math.abs(wrk.rps - previous) / previous < 0.05) return;
    previous = wrk.rps;
  }
}

// ─── a. throughput ratio ────────────────────────────────────────────────────────────────────────────────────

async function benchRatio(args: Args) {
  heading(`a. Throughput ratio: proxy ÷ direct, wrk ${CONNECTIONS} connections, one run`);
  line(
    "  How: one fixed upstream (bench/lib/upstream.ts, a Bun.serve answering 1,024 bytes of JSON to every GET;",
  );
  line(
    "  the simple fixed upstream rather than the monolith, so the figure is the proxy's cost alone). In front of",
  );
  line(
    "  it: nginx 1 worker (proxy_pass to an upstream block with keepalive 64, HTTP/1.1), haproxy 1 thread",
  );
  line(
    "  (http-reuse always), a bare Bun.serve → fetch proxy, hono/proxy, and the gateway (dev-JWT auth, rate",
  );
  line("  limit on and set high, reference-data route weighted 50/50 over two names of the same upstream).");
  line(
    `  wrk -t${args.threads} -c${CONNECTIONS} -d${args.duration}s with the same Authorization header to every`,
  );
  line(
    `  target; each warmed until two 1 s runs agree within 5 % (${WARMUP_S}–${MAX_WARMUP_S} s), then ${args.rounds} interleaved rounds (direct, nginx, haproxy, bare, hono,`,
  );
  line("  gateway); each ratio is against the direct run of its own round; medians reported.");
  line(
    `  NOTE: wrk, the upstream and the proxy share the machine's ${availableParallelism()} cores (with other work).`,
  );

  const upstream = startUpstream();
  const started: Service[] = [upstream];
  try {
    await waitReady(upstream);
    const upstreamUrl = new URL(upstream.baseUrl);
    const proxies: Proxy[] = [
      {
        name: "direct",
        label: LABELS.direct ?? "",
        service: upstream,
        url: `${upstream.baseUrl}${GET_PATH}`,
      },
    ];
    // nginx and haproxy are the reference rows: without them (not installed yet) the Bun rows still run.
    const anchors: ["nginx" | "haproxy", Service][] = [];
    if (installed.nginx) anchors.push(["nginx", startNginx(tempDir(), freePort(), upstreamUrl)]);
    else line("  (nginx is not installed: its row is left out)");
    if (installed.haproxy) anchors.push(["haproxy", startHaproxy(tempDir(), freePort(), upstreamUrl)]);
    else line("  (haproxy is not installed: its row is left out)");
    const bare = startBunProxy("bare", upstream);
    const hono = startBunProxy("hono", upstream);
    started.push(...anchors.map(([, service]) => service), bare, hono);
    for (const [name, service] of [...anchors, ["bare", bare] as const, ["hono", hono] as const]) {
      await waitReady(service);
      proxies.push({ name, label: LABELS[name] ?? name, service, url: `${service.baseUrl}${GET_PATH}` });
    }
    if (gatewayBuilt()) {
      const gateway = await startTarget("gateway", upstream);
      started.push(gateway.service);
      proxies.push(gateway);
    } else {
      check(false, `${GATEWAY_ENTRY} does not exist yet: the gateway's ratio is not measured`);
    }
    if (args.anchor) {
      const service = startGateway(upstream, [], { root: args.anchor, namespace: ANCHOR_NAMESPACE });
      started.push(service);
      await waitReady(service);
      await setWeights(service);
      proxies.push({
        name: "anchor",
        label: "Fig gateway, --anchor",
        service,
        url: `${service.baseUrl}${GET_PATH}`,
      });
      line(`  anchor: the gateway of ${args.anchor} (same settings, its own namespace), in every round`);
    }

    const authorization = `Bearer ${await token("viewer")}`;
    const script = writeWrkScript(tempDir(), "get", { authorization });
    for (const proxy of proxies) if (!(await verifyProxy(proxy, authorization))) return;
    for (const proxy of proxies) await warmUp(proxy, upstream, script, args);

    const runs = new Map<string, { rps: number; ratio: number; p50: number; p99: number; cpuUs: number }[]>();
    let contended = 0;
    for (let round = 1; round <= args.rounds; round++) {
      let directRps = 0;
      const cells: string[] = [];
      for (const proxy of proxies) {
        const { wrk, cpu } = await measure(proxy, upstream, script, args);
        check(
          wrk.non2xx === 0 && wrk.errors === 0,
          `${proxy.label}: ${wrk.non2xx} non-2xx, ${wrk.errors} errors`,
        );
        if (proxy.name === "direct") directRps = wrk.rps;
        const ratio = wrk.rps / directRps;
        const cpuUs =
          proxy.name === "direct" ? (cpu.upstream / wrk.requests) * 1e6 : (cpu.proxy / wrk.requests) * 1e6;
        const list = runs.get(proxy.name) ?? [];
        list.push({ rps: wrk.rps, ratio, p50: wrk.p50, p99: wrk.p99, cpuUs });
        runs.set(proxy.name, list);
        contended = Math.max(contended, cpu.rest / wrk.seconds);
        cells.push(`${proxy.name} ${int(wrk.rps)}${proxy.name === "direct" ? "" : ` (${ratio.toFixed(2)})`}`);
      }
      line(`  round ${round}: ${cells.join(", ")} req/s`);
    }

    line();
    line(
      `  ${"target".padEnd(30)} ${"req/s (median)".padStart(14)} ${"ratio".padStart(6)} ${"ratios".padEnd(18)} ${"p50/p99 ms".padEnd(13)} proxy CPU/req  issue's ratio`,
    );
    const ratios: Record<string, number> = {};
    for (const proxy of proxies) {
      const list = runs.get(proxy.name) ?? [];
      const ratio = median(list.map((r) => r.ratio));
      ratios[proxy.name] = ratio;
      line(
        `  ${proxy.label.padEnd(30)} ${int(median(list.map((r) => r.rps))).padStart(14)} ${
          proxy.name === "direct" ? "".padStart(6) : ratio.toFixed(2).padStart(6)
        } ${(proxy.name === "direct" ? "" : list.map((r) => r.ratio.toFixed(2)).join(" ")).padEnd(18)} ${`${median(
          list.map((r) => r.p50),
        ).toFixed(2)}/${median(list.map((r) => r.p99)).toFixed(1)}`.padEnd(13)} ${`${Math.round(
          median(list.map((r) => r.cpuUs)),
        )} µs`.padStart(13)}  ${REFERENCE[proxy.name as keyof typeof REFERENCE] ?? ""}`,
      );
    }
    line("  (proxy CPU/req: the proxy process's user+sys CPU ÷ requests; for direct, the upstream's.)");
    if (contended > 0.25)
      line(
        `  ⚠ other processes kept up to ${contended.toFixed(2)} cores busy during a run: treat the figures as noisy`,
      );
    const load = loadAverage();
    for (const proxy of proxies.slice(1))
      summary.push({
        figure: `Throughput ratio, ${proxy.label}`,
        result: `${(ratios[proxy.name] ?? 0).toFixed(2)} (median of ${args.rounds})`,
        goal:
          proxy.name === "gateway"
            ? `≥ nginx (${ratios.nginx === undefined ? "not run" : ratios.nginx.toFixed(2)})`
            : "—",
        verdict:
          proxy.name === "gateway" && ratios.nginx !== undefined
            ? verdict((ratios.gateway ?? 0) >= ratios.nginx)
            : "",
        note: `issue: ${REFERENCE[proxy.name as keyof typeof REFERENCE] ?? "—"}`,
      });
    if (ratios.gateway !== undefined && ratios.bare) {
      // The goal that is within this runtime's reach: the gateway with every policy on against a Bun proxy
      // with none, side by side in this run.
      const share = ratios.gateway / ratios.bare;
      const cpu = (name: string) => {
        const list = runs.get(name);
        return list ? String(Math.round(median(list.map((r) => r.cpuUs)))) : "—";
      };
      line(
        `  gateway ÷ bare Bun proxy: ${share.toFixed(2)} × (goal ≥ 0.90 ×); CPU/request gateway ${cpu("gateway")} µs, bare ${cpu("bare")} µs, nginx ${cpu("nginx")} µs; load average after: ${load}`,
      );
      summary.push({
        figure: "Throughput ratio, Fig gateway ÷ bare Bun.serve → fetch",
        result: `${share.toFixed(2)} × (${(ratios.gateway ?? 0).toFixed(2)} / ${ratios.bare.toFixed(2)})`,
        goal: "≥ 0.90 ×",
        verdict: verdict(share >= 0.9),
        note: `issue: 0.17 / 0.38 = 0.45 ×; load ${load}`,
      });
      summary.push({
        figure: "CPU per request, Fig gateway",
        result: `${cpu("gateway")} µs (bare ${cpu("bare")} µs)`,
        goal: "—",
        verdict: "",
        note: `issue: 57 µs (bare 20 µs); load ${load}`,
      });
      if (ratios.anchor !== undefined) {
        const versus = (ratios.gateway ?? 0) / ratios.anchor;
        line(
          `  gateway ÷ --anchor's gateway: ${versus.toFixed(2)} × throughput (${(ratios.anchor / ratios.bare).toFixed(2)} × the bare proxy's); CPU/request ${cpu("gateway")} vs ${cpu("anchor")} µs`,
        );
        summary.push({
          figure: "Throughput ratio, Fig gateway ÷ the --anchor checkout's gateway",
          result: `${versus.toFixed(2)} × (anchor ÷ bare ${(ratios.anchor / ratios.bare).toFixed(2)} ×)`,
          goal: "—",
          verdict: "",
          note: `CPU/request ${cpu("gateway")} vs ${cpu("anchor")} µs; ${args.anchor}; load ${load}`,
        });
      }
    }
  } finally {
    for (const service of started.reverse()) await stopService(service, 5000);
  }
}

// ─── b. added latency at a constant rate ────────────────────────────────────────────────────────────────────

const ms2 = (value: number) => `${value.toFixed(2)} ms`;

async function benchLatency(args: Args) {
  heading(`b. Added latency at a constant ${int(args.rate)} requests/s: ${LABELS[args.target]} vs direct`);
  line(
    `  How: an open-loop generator in this process (bench/lib/open-loop.ts; wrk2 is not packaged by Debian):`,
  );
  line(
    `  request i is due at start + i/${args.rate} s and its latency counts from when it was due (no coordinated`,
  );
  line(
    `  omission), fetch() over keep-alive connections. ${args.duration} s per run after warming the target with wrk until it`,
  );
  line(`  settles and a ${WARMUP_S} s open-loop warmup, ${args.rounds} rounds`);
  line(
    `  interleaved (direct, ${args.target}); added = ${args.target} − direct, per percentile, of the medians.`,
  );
  const upstream = startUpstream();
  let target: Proxy | undefined;
  try {
    await waitReady(upstream);
    target = await startTarget(args.target, upstream);
    const authorization = `Bearer ${await token("viewer")}`;
    if (!(await verifyProxy(target, authorization))) return;
    const direct: Proxy = {
      name: "direct",
      label: LABELS.direct ?? "",
      service: upstream,
      url: `${upstream.baseUrl}${GET_PATH}`,
    };
    const headers = { authorization };
    // The JIT first (wrk until the target's throughput settles), then the open loop's own short warmup.
    await warmUp(target, upstream, writeWrkScript(tempDir(), "get", { authorization }), args);
    for (const p of [direct, target])
      await runOpenLoop({ url: p.url, rate: args.rate, seconds: WARMUP_S, headers });
    const results: Record<"direct" | "target", OpenLoopResult[]> = { direct: [], target: [] };
    for (let round = 1; round <= args.rounds; round++) {
      for (const [key, p] of [
        ["direct", direct],
        ["target", target],
      ] as const) {
        const r = await runOpenLoop({ url: p.url, rate: args.rate, seconds: args.duration, headers });
        check(r.failed === 0, `${p.label}: ${r.failed} of ${r.sent} requests failed at ${args.rate}/s`);
        results[key].push(r);
        line(
          `  round ${round} ${p.name.padEnd(8)} ${int(r.rate)} answers/s, p50 ${ms2(r.fromDue.p50)}, p99 ${ms2(
            r.fromDue.p99,
          )}, max ${ms2(r.fromDue.max)} (from send: p50 ${ms2(r.fromSend.p50)}, p99 ${ms2(r.fromSend.p99)}; send lag p99 ${ms2(r.sendLagP99)})`,
        );
      }
    }
    const med = (key: "direct" | "target", pick: (r: OpenLoopResult) => number) =>
      median(results[key].map(pick));
    const p50 = { direct: med("direct", (r) => r.fromDue.p50), target: med("target", (r) => r.fromDue.p50) };
    const p99 = { direct: med("direct", (r) => r.fromDue.p99), target: med("target", (r) => r.fromDue.p99) };
    line();
    kv("direct p50 / p99 (median)", `${ms2(p50.direct)} / ${ms2(p99.direct)}`);
    kv(`${args.target} p50 / p99 (median)`, `${ms2(p50.target)} / ${ms2(p99.target)}`);
    kv("added p50 / p99", `${ms2(p50.target - p50.direct)} / ${ms2(p99.target - p99.direct)}`);
    const saturated = results.target.some((r) => r.rate < args.rate * 0.98);
    if (saturated)
      line(
        `  ⚠ ${args.target} answered fewer than ${int(args.rate)}/s in some round: it is saturated at this rate on this machine now, so the latency is queueing, not the proxy's own`,
      );
    const lag = Math.max(...[...results.direct, ...results.target].map((r) => r.sendLagP99));
    if (lag > 5)
      line(
        `  ⚠ the generator was up to ${ms2(lag)} late sending (p99): the machine was busy, p99s are pessimistic`,
      );
    summary.push({
      figure: `Added latency at ${int(args.rate)}/s (${args.target})`,
      result: `p50 +${ms2(p50.target - p50.direct)}, p99 +${ms2(p99.target - p99.direct)}${saturated ? " (SATURATED)" : ""}`,
      goal: "—",
      verdict: "",
      note: `direct p50 ${ms2(p50.direct)} p99 ${ms2(p99.direct)}; ${args.target} p50 ${ms2(p50.target)} p99 ${ms2(p99.target)}`,
    });
  } finally {
    if (target) await stopService(target.service, 5000);
    await stopService(upstream, 5000);
  }
}

// ─── c. memory ──────────────────────────────────────────────────────────────────────────────────────────────

/** A generated body of `total` bytes in `UPLOAD_CHUNK` pieces (the same bytes each time: nothing is kept). */
function generatedBody(total: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(UPLOAD_CHUNK).fill(0x61);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const size = Math.min(UPLOAD_CHUNK, total - sent);
      controller.enqueue(size === UPLOAD_CHUNK ? chunk : chunk.subarray(0, size));
      sent += size;
    },
  });
}

async function benchMemory(args: Args) {
  heading(`c. Memory: ${LABELS[args.target]} RSS idle, under load, during a ${mib(args.uploadBytes)} upload`);
  line(
    "  How: VmRSS of the target process from /proc/<pid>/status. Idle: after /ready and 100 warm requests,",
  );
  line(
    `  1 s later. Load: sampled every 100 ms during wrk -t${args.threads} -c${CONNECTIONS} -d${args.duration}s. Upload: a generated`,
  );
  line(
    `  ${mib(args.uploadBytes)} body (${UPLOAD_CHUNK / 1024} KiB chunks, chunked encoding) POSTed to ${UPLOAD_PATH} through the target`,
  );
  line(
    "  to the upstream, which counts and discards it; sampled every 50 ms, VmHWM reset before and read after.",
  );
  const upstream = startUpstream();
  let target: Proxy | undefined;
  try {
    await waitReady(upstream);
    target = await startTarget(args.target, upstream);
    const pid = target.service.pid;
    const authorization = `Bearer ${await token("viewer")}`;
    if (!(await verifyProxy(target, authorization))) return;
    for (let i = 0; i < 100; i++)
      await (await fetch(target.url, { headers: { authorization } })).arrayBuffer();
    await Bun.sleep(1000);
    const idle = procStatusBytes(pid, "VmRSS");
    kv("idle", mib(idle));

    const script = writeWrkScript(tempDir(), "get", { authorization });
    const samples: number[] = [];
    const timer = setInterval(() => samples.push(procStatusBytes(pid, "VmRSS") ?? 0), 100);
    const { wrk } = await measure(target, upstream, script, args);
    clearInterval(timer);
    const loadPeak = Math.max(...samples);
    kv(`under load (${int(wrk.rps)} req/s)`, `median ${mib(median(samples))}, peak ${mib(loadPeak)}`);
    await Bun.sleep(1000);
    const beforeUpload = procStatusBytes(pid, "VmRSS");
    kv("after load, 1 s later", mib(beforeUpload));

    const hwmReset = resetPeakRss(pid);
    const sampler = sampleRss(pid, 50);
    const started = performance.now();
    const res = await fetch(`${target.service.baseUrl}${UPLOAD_PATH}`, {
      method: "POST",
      // A write: the gateway wants role editor for it (and sends it to the write owner, the monolith).
      headers: {
        authorization: `Bearer ${await token("editor")}`,
        "content-type": "application/octet-stream",
      },
      body: generatedBody(args.uploadBytes),
      duplex: "half",
    } as RequestInit);
    const text = await res.text();
    const uploadSeconds = (performance.now() - started) / 1000;
    const uploadPeak = sampler.stop();
    const hwm = hwmReset ? procStatusBytes(pid, "VmHWM") : undefined;
    let bytes: unknown;
    try {
      bytes = (JSON.parse(text) as { bytes?: unknown }).bytes;
    } catch {}
    check(
      res.status === 200 && bytes === args.uploadBytes,
      `upload through ${args.target}: ${res.status} ${text.slice(0, 200)} (expected {"bytes":${args.uploadBytes}})`,
    );
    kv(
      `${mib(args.uploadBytes)} upload`,
      `${seconds(uploadSeconds)} (${(args.uploadBytes / 1024 / 1024 / uploadSeconds).toFixed(0)} MiB/s), upstream got ${String(bytes)} bytes`,
    );
    kv(
      "  RSS peak (sampled / VmHWM)",
      `${mib(uploadPeak)} / ${hwmReset ? mib(hwm) : "n/a"} (before: ${mib(beforeUpload)})`,
    );
    const peak = Math.max(uploadPeak, hwm ?? 0);
    const uploaded = res.status === 200 && bytes === args.uploadBytes;
    summary.push(
      { figure: `RSS idle (${args.target})`, result: mib(idle), goal: "—", verdict: "" },
      {
        figure: `RSS under load (${args.target})`,
        result: `peak ${mib(loadPeak)}`,
        goal: "—",
        verdict: "",
        note: `${int(wrk.rps)} req/s, ${CONNECTIONS} connections`,
      },
      {
        figure: `RSS during ${mib(args.uploadBytes)} upload (${args.target})`,
        result: uploaded
          ? `peak ${mib(peak)} (+${mib(peak - (beforeUpload ?? 0))})`
          : `FAILED (${res.status})`,
        goal: "flat",
        verdict: uploaded ? verdict(peak - (beforeUpload ?? 0) < 64 * 1024 * 1024) : "",
        note: `${seconds(uploadSeconds)}; "flat" read as < 64 MiB above the RSS before`,
      },
    );
  } finally {
    if (target) await stopService(target.service, 5000);
    await stopService(upstream, 5000);
  }
}

// ─── d. profile ─────────────────────────────────────────────────────────────────────────────────────────────

type ProfileRow = { selfPct: string; self: string; totalPct: string; fn: string; location: string };

/** The rows of a markdown table in a `bun --cpu-prof-md` file, under the heading that starts with `title`. */
function profileTable(md: string, title: string): string[][] {
  const start = md.indexOf(`## ${title}`);
  if (start < 0) return [];
  const rows: string[][] = [];
  for (const row of md.slice(start).split("\n").slice(1)) {
    if (row.startsWith("## ")) break;
    if (!row.startsWith("|") || row.startsWith("|--") || row.includes("---:")) continue;
    rows.push(
      row
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim().replace(/^`|`$/g, "")),
    );
  }
  return rows.slice(1); // header
}

/** `node_modules/.bun/pino@10.4.0/node_modules/pino/lib/x.js` → `pino`; `services/gateway/src/proxy/x.ts` → itself. */
function packageOf(file: string): string {
  const nm = file.lastIndexOf("node_modules/");
  if (nm >= 0) {
    const [scope = "", name = ""] = file.slice(nm + "node_modules/".length).split("/");
    return scope.startsWith("@") ? `${scope}/${name}` : scope;
  }
  if (file.startsWith("services/") || file.startsWith("packages/")) return file;
  return file;
}

/** The percentage lines of `perf report --sort <sort>` (no call graphs). */
async function perfReport(data: string, sort: string): Promise<string[]> {
  const argv = ["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none", "--sort", sort];
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "ignore" });
  const text = await new Response(proc.stdout).text();
  await proc.exited;
  return text.split("\n").filter((l) => /^\s+\d+\.\d+%/.test(l));
}

async function benchProfile(args: Args) {
  heading(`d. Profile: ${LABELS[args.target]} under wrk load, bun --cpu-prof-md`);
  line(
    `  How: the target started with \`bun --cpu-prof-md --cpu-prof-dir=<tmp>\`, ${WARMUP_S} s warmup, then`,
  );
  line(
    `  wrk -t${args.threads} -c${CONNECTIONS} -d${args.duration}s; SIGTERM writes the profile (1 ms sampling). Self time`,
  );
  line(
    "  is where the JS thread was; [native code] is Bun's C++/Zig (HTTP parsing, fetch, streams, crypto).",
  );
  const profileDir = join(tempDir(), "profile");
  const upstream = startUpstream();
  let target: Proxy | undefined;
  try {
    await waitReady(upstream);
    target = await startTarget(args.target, upstream, ["--cpu-prof-md", `--cpu-prof-dir=${profileDir}`]);
    const authorization = `Bearer ${await token("viewer")}`;
    if (!(await verifyProxy(target, authorization))) return;
    const script = writeWrkScript(tempDir(), "get", { authorization });
    await measure(target, upstream, script, args, WARMUP_S);
    // perf (Debian linux-perf) beside it, software clock (no hardware counters in this VM): splits the process's
    // time between the kernel, libc and bun itself, which the JS profile shows as one "[native code]".
    const perfData = join(tempDir(), "perf.data");
    const perf = (await toolVersion(["perf", "--version"]))
      ? Bun.spawn(
          [
            "perf",
            "record",
            "-e",
            "cpu-clock",
            "-F",
            "499",
            "-g",
            "-p",
            String(target.service.pid),
            "-o",
            perfData,
            "--",
            "sleep",
            String(args.duration),
          ],
          { stdout: "ignore", stderr: "ignore" },
        )
      : undefined;
    const { wrk, cpu } = await measure(target, upstream, script, args);
    await perf?.exited;
    await stopService(target.service, 15_000);
    const file = existsSync(profileDir) ? readdirSync(profileDir).find((f) => f.endsWith(".md")) : undefined;
    if (!check(file !== undefined, `no profile written to ${profileDir}`) || !file) return;
    const md = readFileSync(join(profileDir, file), "utf8");
    const kept = join(tmpdir(), `fig-bench-gateway-profile-${args.target}-${RUN}.md`);
    await Bun.write(kept, md);
    kv(
      "load while profiled",
      `${int(wrk.rps)} req/s, ${Math.round((cpu.proxy / wrk.requests) * 1e6)} µs CPU per request`,
    );
    kv("full profile kept at", kept);
    const hot: ProfileRow[] = profileTable(md, "Hot Functions").map(
      ([selfPct = "", self = "", totalPct = "", , fn = "", location = ""]) => ({
        selfPct,
        self,
        totalPct,
        fn,
        location: location.replace(`${ROOT}/`, ""),
      }),
    );
    line("\n  Top 20 functions by self time:");
    for (const r of hot.slice(0, 20))
      line(
        `  ${r.selfPct.padStart(6)} self ${r.totalPct.padStart(6)} total  ${r.fn.slice(0, 40).padEnd(40)} ${r.location}`,
      );
    line(
      "\n  Self time by package (node_modules package, or workspace folder; [native code] is Bun itself):",
    );
    const byPackage = new Map<string, number>();
    for (const [selfPct = "", , file = ""] of profileTable(md, "Files")) {
      const key = packageOf(file.replace(`${ROOT}/`, ""));
      byPackage.set(key, (byPackage.get(key) ?? 0) + Number.parseFloat(selfPct));
    }
    for (const [key, pct] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 14))
      line(`  ${`${pct.toFixed(1)}%`.padStart(6)}  ${key}`);
    line(
      "  (the profile spans start-up, warmup, the run and shutdown: module loading and `async shutdown` are not",
    );
    line("  request work.)");
    if (perf && existsSync(perfData)) {
      line("\n  perf, whole process (all threads) by binary:");
      for (const l of (await perfReport(perfData, "dso")).slice(0, 6)) line(`  ${l.trim()}`);
      line("  perf, top symbols (bun's own are unnamed: the binary is stripped):");
      for (const l of (await perfReport(perfData, "sym")).slice(0, 15)) line(`  ${l.trim()}`);
    }
    const top = hot
      .slice(0, 3)
      .map((r) => `${r.fn} ${r.selfPct}`)
      .join(", ");
    summary.push({
      figure: `Profile (${args.target}): top self time`,
      result: top,
      goal: "—",
      verdict: "",
      note: kept,
    });
  } finally {
    if (target) await stopService(target.service, 5000);
    await stopService(upstream, 5000);
  }
}

// ─── e. breakdown: the request path layer by layer ──────────────────────────────────────────────────────────

const VARIANTS = [
  ["bare", "bare Bun.serve → fetch"],
  ["headers", "+ gateway header work (proxy/headers.ts, new Request/Response)"],
  ["handler", "+ proxy handler + policies (plain Hono, no createApp middleware)"],
  ["full", "+ createApp middleware: buildGateway() in memory, no NATS"],
  ["gateway", "the gateway process (main.ts: NATS KV state, tracing SDK)"],
] as const;

async function benchBreakdown(args: Args) {
  heading("e. Where the time goes: CPU per request, layer by layer");
  line(
    "  How: the same wrk load against five processes that each add one layer of the gateway's request path",
  );
  line(
    "  (bench/lib/gateway-variants.ts builds them from the gateway's own modules), interleaved over --rounds;",
  );
  line(
    "  CPU per request = the proxy process's user+sys CPU ÷ requests answered (all of Bun's threads), a figure",
  );
  line(
    "  that depends far less on other load than req/s does. The difference between rows is that layer's cost.",
  );
  if (!gatewayBuilt()) throw new Error(`${GATEWAY_ENTRY} does not exist yet: the breakdown needs it`);
  const upstream = startUpstream();
  const started: Service[] = [upstream];
  try {
    await waitReady(upstream);
    const proxies: Proxy[] = [];
    for (const [name, label] of VARIANTS) {
      let service: Service;
      if (name === "bare") service = startBunProxy("bare", upstream);
      else if (name === "gateway") service = (await startTarget("gateway", upstream)).service;
      else
        service = startService(
          ["bun", "bench/lib/gateway-variants.ts"],
          serviceEnv({
            PORT: String(freePort()),
            MODE: name,
            TARGET: upstream.baseUrl,
            AUTH_DEV_SECRET: SECRET,
          }),
          ROOT,
        );
      started.push(service);
      await waitReady(service);
      proxies.push({ name, label, service, url: `${service.baseUrl}${GET_PATH}` });
    }
    const authorization = `Bearer ${await token("viewer")}`;
    const script = writeWrkScript(tempDir(), "get", { authorization });
    for (const proxy of proxies) if (!(await verifyProxy({ ...proxy, name: "any" }, authorization))) return;
    for (const proxy of proxies) await warmUp(proxy, upstream, script, args);
    const cpu = new Map<string, number[]>();
    const rps = new Map<string, number[]>();
    for (let round = 1; round <= args.rounds; round++) {
      const cells: string[] = [];
      for (const proxy of proxies) {
        const { wrk, cpu: split } = await measure(proxy, upstream, script, args);
        check(
          wrk.non2xx === 0 && wrk.errors === 0,
          `${proxy.name}: ${wrk.non2xx} non-2xx, ${wrk.errors} errors`,
        );
        const us = (split.proxy / wrk.requests) * 1e6;
        cpu.set(proxy.name, [...(cpu.get(proxy.name) ?? []), us]);
        rps.set(proxy.name, [...(rps.get(proxy.name) ?? []), wrk.rps]);
        cells.push(`${proxy.name} ${Math.round(us)} µs`);
      }
      line(`  round ${round}: ${cells.join(", ")}`);
    }
    line();
    let previous = 0;
    for (const proxy of proxies) {
      const us = median(cpu.get(proxy.name) ?? []);
      const delta = previous ? ` (${us - previous >= 0 ? "+" : ""}${Math.round(us - previous)})` : "";
      line(
        `  ${proxy.label.padEnd(66)} ${`${Math.round(us)} µs${delta}`.padStart(14)}  ${int(median(rps.get(proxy.name) ?? []))} req/s`,
      );
      previous = us;
    }
    const bareUs = median(cpu.get("bare") ?? []);
    const gatewayUs = median(cpu.get("gateway") ?? []);
    summary.push({
      figure: "CPU per request: gateway vs bare Bun proxy",
      result: `${Math.round(gatewayUs)} µs vs ${Math.round(bareUs)} µs`,
      goal: "—",
      verdict: "",
      note: proxies.map((p) => `${p.name} ${Math.round(median(cpu.get(p.name) ?? []))}`).join(", "),
    });
  } finally {
    for (const service of started.reverse()) await stopService(service, 5000);
  }
}

// ─── main ───────────────────────────────────────────────────────────────────────────────────────────────────

async function cleanup() {
  await stopAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (gatewayBuilt())
    await deleteNamespaceStreams().catch((error: Error) =>
      console.error(`could not delete the streams of namespace ${NAMESPACE}: ${error.message}`),
    );
}

cleanupOnSignals("stopping the proxies and deleting the bench streams", cleanup);

async function main(): Promise<number> {
  const args = readArgs();
  const tools = await Promise.all([
    toolVersion(["nginx", "-v"]),
    toolVersion(["haproxy", "-v"]),
    wrkVersion(),
  ]);
  line(`gateway benchmarks — ${new Date().toISOString()}`);
  line(
    `Bun ${Bun.version} · ${availableParallelism()} cores · ${tools.map((t) => t ?? "MISSING").join(" · ")} · NATS ${NATS_URL} · namespace ${NAMESPACE}`,
  );
  line(
    `figures: ${args.only.join(", ")} · target ${args.target}${gatewayBuilt() ? "" : ` (${GATEWAY_ENTRY} not built yet)`}`,
  );
  line(`load average before starting: ${loadAverage()} (other work skews every figure)`);
  gatewayLogLevel = args.logLevel;
  line(`gateway LOG_LEVEL=${gatewayLogLevel}${gatewayLogLevel === "info" ? " (access log on)" : ""}`);
  installed.nginx = tools[0] !== undefined;
  installed.haproxy = tools[1] !== undefined;
  if (tools[2] === undefined) {
    console.error("error: needs wrk (the load generator): apt-get update && apt-get install -y wrk");
    return 2;
  }
  if (!installed.nginx || !installed.haproxy)
    line(
      "  nginx or haproxy missing (apt-get install -y nginx-light haproxy): their reference rows are left out",
    );

  try {
    if (args.only.includes("ratio")) await benchRatio(args);
    if (args.only.includes("latency")) await benchLatency(args);
    if (args.only.includes("memory")) await benchMemory(args);
    if (args.only.includes("profile")) await benchProfile(args);
    if (args.only.includes("breakdown")) await benchBreakdown(args);
  } catch (error) {
    problems.push((error as Error).message);
    console.error(`\nerror: ${(error as Error).message}`);
  } finally {
    await cleanup();
  }

  heading("Summary (goals are printed, not asserted)");
  return printSummary("Notes");
}

// Exit explicitly: keep-alive sockets to the stopped processes must not keep the process alive.
process.exit(await main());
