/**
 * A candidate killed with SIGKILL under load, through the gateway: how many answers the clients see fail,
 * and how long the gateway takes to take the dead candidate out. The scenario of the field report: the
 * reference-data route at 50/50, `--clients` concurrent clients (each request as one of `--consumers`
 * consumers, so both upstreams get their sticky share) reading GET /api/codes/00103 with a high rate limit;
 * the candidate's process is killed with SIGKILL `--kill-after` seconds in; the run lasts `--duration` s.
 *
 * Processes, each on a port it picked itself (port 0): the monolith and the candidate are small Bun servers
 * (services/gateway/test/fixtures/upstream-process.ts, no database: the figure is the gateway's, not the
 * services'; each answers after `--upstream-ms`, so requests are in flight when the candidate dies), the
 * gateway is bench/lib/gateway-process.ts over the gateway source at `--gateway` (in-memory route state),
 * the clients run here. `--before <dir>` runs the same scenario first on another checkout's
 * gateway (an older commit: `git worktree add /tmp/fig-old <commit> && (cd /tmp/fig-old && bun install)`)
 * and prints both side by side.
 *
 * Prints: answers, errors (5xx or no answer) overall and after the kill, kill → breaker open, kill → last
 * error, answers the dead candidate still served, and the gateway's gateway_diverted_total by reason.
 * Goal (printed, not asserted): < 0.1 % client-visible errors, as Envoy's outlier ejection plus retry gives.
 *
 * `--services real` runs the real services/dash/monolith and services/dash/reference-data instead of the stand-ins, each
 * on a fresh Postgres database (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:
 * 5432/postgres; dropped at the end) with events in a NATS namespace of this run (BENCH_NATS_URL, else NATS_URL,
 * else 127.0.0.1:4222; deleted at the end).
 *
 * Usage: bun bench/dead-candidate.ts [--duration 14] [--kill-after 4] [--clients 20] [--consumers 400]
 *                                    [--services stand-in|real] [--upstream-ms 2] [--gateway services/gateway]
 *                                    [--before /tmp/fig-old/services/gateway]
 */
import { resolve } from "node:path";
import { DEV_SECRET_DEFAULT, mintDevToken } from "../packages/auth/src/index.ts";
// The NATS client is a dependency of packages/events, not of the root: import it from there.
import { jetstreamManager } from "../packages/events/node_modules/@nats-io/jetstream/lib/mod.js";
import { connect } from "../packages/events/node_modules/@nats-io/transport-node/lib/mod.js";
import { deleteNamespace } from "../packages/events/src/streams.ts";
import { cleanupOnSignals, parseFlags, usageError } from "./lib/cli.ts";
import { createBenchDatabase, dropAll, dropBenchDatabase } from "./lib/postgres.ts";
import { check, heading, int, kv, line, loadAverage, printSummary, summary, verdict } from "./lib/report.ts";
import { freePort, serviceEnv, startService, stopAll, stopService, waitReady } from "./lib/service.ts";

const USAGE = `Usage: bun bench/dead-candidate.ts [--duration 14] [--kill-after 4] [--clients 20] [--consumers 400]
                                   [--services stand-in|real] [--upstream-ms 2] [--gateway services/gateway]
                                   [--before <another checkout's services/gateway>]`;
const ROOT = resolve(import.meta.dir, "..");
const FIXTURE = resolve(ROOT, "services/gateway/test/fixtures/upstream-process.ts");
const GATEWAY_PROCESS = resolve(import.meta.dir, "lib/gateway-process.ts");
const GOAL = 0.001;
const NATS_URL = process.env.BENCH_NATS_URL ?? process.env.NATS_URL ?? "127.0.0.1:4222";
const NAMESPACE = `bench${crypto.randomUUID().replace(/-/g, "").slice(0, 8)}dc`;

/** Deletes the streams and KV buckets the real services made in this run's namespace. */
async function deleteNamespaceStreams(): Promise<void> {
  const nc = await connect({ servers: NATS_URL, name: "bench-dead-candidate-cleanup" });
  try {
    await deleteNamespace(await jetstreamManager(nc), NAMESPACE);
  } finally {
    await nc.close();
  }
}

type Child = {
  proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  /** Every JSON line the process printed so far. */
  lines: Record<string, unknown>[];
  /** Resolves with the first JSON line that has `key`. */
  first(key: string): Promise<Record<string, unknown>>;
};

const children = new Set<Child>();

function spawnChild(argv: string[]): Child {
  const proc = Bun.spawn(argv, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const lines: Record<string, unknown>[] = [];
  const waiters: { key: string; resolve: (line: Record<string, unknown>) => void }[] = [];
  const child: Child = {
    proc,
    lines,
    first: (key) =>
      new Promise((resolve, reject) => {
        const found = lines.find((l) => key in l);
        if (found) return resolve(found);
        waiters.push({ key, resolve });
        void proc.exited.then((code) =>
          reject(new Error(`${argv.join(" ")} exited ${code} before "${key}"`)),
        );
      }),
  };
  void (async () => {
    let rest = "";
    for await (const chunk of proc.stdout) {
      rest += new TextDecoder().decode(chunk);
      let end = rest.indexOf("\n");
      while (end !== -1) {
        const text = rest.slice(0, end);
        rest = rest.slice(end + 1);
        end = rest.indexOf("\n");
        if (!text.startsWith("{")) continue;
        const parsed = JSON.parse(text) as Record<string, unknown>;
        lines.push(parsed);
        for (const w of [...waiters])
          if (w.key in parsed) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(parsed);
          }
      }
    }
  })();
  children.add(child);
  return child;
}

async function stopChild(child: Child): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGTERM");
  await child.proc.exited;
  children.delete(child);
}

async function urlOf(child: Child): Promise<string> {
  const { port } = (await child.first("port")) as { port: number };
  return `http://127.0.0.1:${port}`;
}

type Answer = { at: number; status: number; servedBy: string | null };

type Run = {
  answers: Answer[];
  killedAt: number;
  startedAt: number;
  endedAt: number;
  openedAt?: number;
  diverted: Record<string, number>;
};

/** The monolith and the candidate of one run: where they listen, how to kill the candidate, how to stop both. */
type Upstreams = {
  monolithUrl: string;
  candidateUrl: string;
  /** SIGKILL to the candidate's process; resolves once it is gone. */
  killCandidate(): Promise<void>;
  stop(): Promise<void>;
};

/** Stand-ins: the upstream fixture, answering after `upstreamMs`. */
async function standInUpstreams(upstreamMs: number): Promise<Upstreams> {
  const monolith = spawnChild(["bun", FIXTURE, "monolith", String(upstreamMs)]);
  const candidate = spawnChild(["bun", FIXTURE, "reference-data", String(upstreamMs)]);
  const [monolithUrl, candidateUrl] = await Promise.all([urlOf(monolith), urlOf(candidate)]);
  return {
    monolithUrl,
    candidateUrl,
    async killCandidate() {
      candidate.proc.kill("SIGKILL");
      await candidate.proc.exited;
      children.delete(candidate);
    },
    stop: async () => {
      await Promise.all([stopChild(monolith), stopChild(candidate)]);
    },
  };
}

/**
 * The real services, as in the field report: services/dash/monolith and services/dash/reference-data, each on a fresh
 * Postgres database, events in this run's NATS namespace; reference-data seeded with seed/codes.csv
 * (the monolith seeds its own copy at start).
 */
async function realUpstreams(): Promise<Upstreams> {
  const [monolithDb, candidateDb] = await Promise.all([
    createBenchDatabase("deadcand_monolith"),
    createBenchDatabase("deadcand_refdata"),
  ]);
  const [monolithPort, candidatePort] = [freePort(), freePort()];
  const env = (port: number, databaseUrl: string, extra: Record<string, string>) =>
    serviceEnv({
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      NATS_URL,
      FIG_NAMESPACE: NAMESPACE,
      AUTH_DEV_SECRET: DEV_SECRET_DEFAULT,
      LOG_LEVEL: "warn",
      ...extra,
    });
  const monolith = startService(
    ["bun", "services/dash/monolith/src/main.ts"],
    env(monolithPort, monolithDb.url, { REFERENCE_DATA_URL: `http://127.0.0.1:${candidatePort}` }),
    ROOT,
  );
  const candidate = startService(
    ["bun", "services/dash/reference-data/src/main.ts"],
    env(candidatePort, candidateDb.url, { MONOLITH_URL: `http://127.0.0.1:${monolithPort}` }),
    ROOT,
  );
  const stop = async () => {
    await Promise.all([stopService(monolith, 5000), stopService(candidate, 5000)]);
    await Promise.all([dropBenchDatabase(monolithDb.name), dropBenchDatabase(candidateDb.name)]);
  };
  try {
    await Promise.all([waitReady(monolith), waitReady(candidate)]);
    const editor = await mintDevToken({
      secret: DEV_SECRET_DEFAULT,
      sub: "bench-editor",
      tenant: "bench",
      roles: ["editor"],
    });
    const seeded = await fetch(`${candidate.baseUrl}/api/codes/import`, {
      method: "POST",
      body: Bun.file(resolve(ROOT, "services/dash/reference-data/seed/codes.csv")),
      headers: { "content-type": "text/csv", authorization: `Bearer ${editor}` },
    });
    if (seeded.status !== 200) throw new Error(`seeding reference-data answered ${seeded.status}`);
    await seeded.arrayBuffer();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    monolithUrl: monolith.baseUrl,
    candidateUrl: candidate.baseUrl,
    async killCandidate() {
      candidate.proc.kill("SIGKILL");
      await candidate.proc.exited;
    },
    stop,
  };
}

async function runScenario(
  gatewayDir: string,
  tokens: string[],
  {
    durationMs,
    killAfterMs,
    clients,
    upstreamMs,
    real,
  }: { durationMs: number; killAfterMs: number; clients: number; upstreamMs: number; real: boolean },
): Promise<Run> {
  const upstreams = real ? await realUpstreams() : await standInUpstreams(upstreamMs);
  const { monolithUrl, candidateUrl } = upstreams;
  const gateway = spawnChild([
    "bun",
    GATEWAY_PROCESS,
    gatewayDir,
    monolithUrl,
    candidateUrl,
    DEV_SECRET_DEFAULT,
  ]);
  try {
    const gatewayUrl = await urlOf(gateway);
    const answers: Answer[] = [];
    let sent = 0;
    const startedAt = Date.now();
    const endAt = startedAt + durationMs;
    const client = async () => {
      while (Date.now() < endAt) {
        const token = tokens[sent++ % tokens.length] as string;
        try {
          const response = await fetch(`${gatewayUrl}/api/codes/00103`, {
            headers: { authorization: `Bearer ${token}` },
          });
          await response.arrayBuffer();
          answers.push({
            at: Date.now(),
            status: response.status,
            servedBy: response.headers.get("fig-served-by"),
          });
        } catch {
          answers.push({ at: Date.now(), status: 0, servedBy: null });
        }
      }
    };
    const load = Promise.all(Array.from({ length: clients }, client));
    await Bun.sleep(killAfterMs);
    const killedAt = Date.now();
    await upstreams.killCandidate();
    await load;
    const endedAt = Date.now();

    const metrics = await (await fetch(`${gatewayUrl}/metrics`)).text();
    const diverted: Record<string, number> = {};
    for (const match of metrics.matchAll(/^gateway_diverted_total\{([^}]*)\} (\d+)/gm)) {
      const reason = /reason="([^"]*)"/.exec(match[1] as string)?.[1] ?? "?";
      diverted[reason] = (diverted[reason] ?? 0) + Number(match[2]);
    }
    const opened = gateway.lines
      .map((l) => l.breaker as { upstream: string; to: string; at: number } | undefined)
      .find((b) => b?.upstream === "reference-data" && b.to === "open" && b.at >= killedAt);
    return { answers, killedAt, startedAt, endedAt, openedAt: opened?.at, diverted };
  } finally {
    await stopChild(gateway);
    await upstreams.stop();
  }
}

type Figures = {
  requests: number;
  perSecond: number;
  errors: number;
  rate: number;
  errorsAfterKill: number;
  toOpenMs: number | undefined;
  toLastErrorMs: number | undefined;
  candidateAfterKill: number;
  diverted: Record<string, number>;
};

function figuresOf(run: Run): Figures {
  const failed = (a: Answer) => a.status === 0 || a.status >= 500;
  const errors = run.answers.filter(failed);
  const afterKill = errors.filter((a) => a.at >= run.killedAt);
  const last = afterKill.at(-1);
  return {
    requests: run.answers.length,
    perSecond: run.answers.length / ((run.endedAt - run.startedAt) / 1000),
    errors: errors.length,
    rate: errors.length / Math.max(1, run.answers.length),
    errorsAfterKill: afterKill.length,
    toOpenMs: run.openedAt === undefined ? undefined : run.openedAt - run.killedAt,
    toLastErrorMs: last === undefined ? undefined : last.at - run.killedAt,
    // Good answers the candidate sent after the kill call: in flight while the process was being torn down.
    candidateAfterKill: run.answers.filter(
      (a) => a.at >= run.killedAt && a.status > 0 && a.status < 500 && a.servedBy === "reference-data",
    ).length,
    diverted: run.diverted,
  };
}

const percent = (rate: number) => `${(rate * 100).toFixed(3)} %`;
const msOr = (value: number | undefined, none: string) => (value === undefined ? none : `${int(value)} ms`);

function print(title: string, f: Figures): void {
  heading(title);
  kv("answers", `${int(f.requests)} (${int(f.perSecond)}/s)`);
  kv("errors (5xx or no answer)", `${int(f.errors)} = ${percent(f.rate)}`);
  kv("errors after the kill", int(f.errorsAfterKill));
  kv("kill → breaker open", msOr(f.toOpenMs, "never opened"));
  kv("kill → last error", msOr(f.toLastErrorMs, "no error after the kill"));
  kv("candidate answers after the kill", `${int(f.candidateAfterKill)} (in flight at the kill)`);
  kv(
    "gateway_diverted_total by reason",
    Object.entries(f.diverted)
      .map(([reason, n]) => `${reason} ${int(n)}`)
      .join(", ") || "none",
  );
}

async function main(): Promise<number> {
  const flags = parseFlags(USAGE, [
    "duration",
    "kill-after",
    "clients",
    "consumers",
    "upstream-ms",
    "services",
    "gateway",
    "before",
  ]);
  const number = (name: keyof typeof flags, fallback: number) => {
    const value = Number(flags[name] ?? fallback);
    if (!Number.isFinite(value) || value < 0) usageError(USAGE, `--${name} takes a number ≥ 0`);
    return value;
  };
  const durationMs = number("duration", 14) * 1000;
  const killAfterMs = number("kill-after", 4) * 1000;
  const clients = number("clients", 20);
  const consumers = number("consumers", 400);
  const upstreamMs = number("upstream-ms", 2);
  const services = flags.services ?? "stand-in";
  if (services !== "stand-in" && services !== "real") usageError(USAGE, "--services takes stand-in or real");
  const real = services === "real";
  if (killAfterMs >= durationMs) usageError(USAGE, "--kill-after must be less than --duration");
  const now = resolve(ROOT, flags.gateway ?? "services/gateway");
  const before = flags.before === undefined ? undefined : resolve(flags.before);
  const cleanup = async () => {
    await Promise.all([...children].map((c) => stopChild(c)));
    if (!real) return;
    await stopAll();
    await dropAll();
    await deleteNamespaceStreams().catch((error: Error) =>
      console.error(`could not delete the streams of namespace ${NAMESPACE}: ${error.message}`),
    );
  };
  cleanupOnSignals("stopping the processes this script started and dropping its databases", cleanup);

  line(
    `dead candidate: ${clients} clients over ${consumers} consumers, GET /api/codes/00103, reference-data 50/50`,
  );
  line(`kill -9 of the candidate ${killAfterMs / 1000} s in, ${durationMs / 1000} s in all`);
  line(
    real
      ? `real services/dash/monolith and services/dash/reference-data on fresh Postgres databases, NATS namespace ${NAMESPACE}`
      : `stand-in monolith and candidate answer after ${upstreamMs} ms (requests are in flight at the kill)`,
  );
  line(`load average before (1 / 5 / 15 min): ${loadAverage(" / ")}`);
  const tokens = await Promise.all(
    Array.from({ length: consumers }, (_, i) =>
      mintDevToken({ secret: DEV_SECRET_DEFAULT, sub: `consumer-${i}`, tenant: "bench", roles: ["viewer"] }),
    ),
  );
  const options = { durationMs, killAfterMs, clients, upstreamMs, real };

  let old: Figures | undefined;
  let current: Figures;
  try {
    if (before) {
      old = figuresOf(await runScenario(before, tokens, options));
      print(`Before: ${before}`, old);
    }
    current = figuresOf(await runScenario(now, tokens, options));
    print(`Now: ${now}`, current);
    check(current.requests > 0, "no answers at all: the gateway did not serve");
  } finally {
    await cleanup();
  }

  heading("Summary (goals are printed, not asserted)");
  line(`load average after (1 / 5 / 15 min): ${loadAverage(" / ")}`);
  const beside = (f: Figures | undefined, text: (f: Figures) => string) => (f ? ` (before: ${text(f)})` : "");
  summary.push(
    {
      figure: "client-visible errors, candidate killed",
      result: `${percent(current.rate)}, ${int(current.errors)} of ${int(current.requests)}${beside(old, (f) => `${percent(f.rate)}, ${int(f.errors)} of ${int(f.requests)}`)}`,
      goal: "< 0.1 %",
      verdict: verdict(current.rate < GOAL),
    },
    {
      figure: "kill → breaker open",
      result: `${msOr(current.toOpenMs, "never")}${beside(old, (f) => msOr(f.toOpenMs, "never"))}`,
      goal: "—",
      verdict: "",
    },
    {
      figure: "kill → last client error",
      result: `${msOr(current.toLastErrorMs, "none")}${beside(old, (f) => msOr(f.toLastErrorMs, "none"))}`,
      goal: "—",
      verdict: "",
    },
  );
  return printSummary();
}

process.exit(await main());
