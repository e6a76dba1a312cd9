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
 * Usage: bun bench/dead-candidate.ts [--duration 14] [--kill-after 4] [--clients 20] [--consumers 400]
 *                                    [--upstream-ms 2] [--gateway services/gateway]
 *                                    [--before /tmp/fig-old/services/gateway]
 */
import { resolve } from "node:path";
import { DEV_SECRET_DEFAULT, mintDevToken } from "../packages/auth/src/index.ts";
import { cleanupOnSignals, parseFlags, usageError } from "./lib/cli.ts";
import { check, heading, int, kv, line, loadAverage, printSummary, summary, verdict } from "./lib/report.ts";

const USAGE = `Usage: bun bench/dead-candidate.ts [--duration 14] [--kill-after 4] [--clients 20] [--consumers 400]
                                   [--upstream-ms 2] [--gateway services/gateway]
                                   [--before <another checkout's services/gateway>]`;
const ROOT = resolve(import.meta.dir, "..");
const FIXTURE = resolve(ROOT, "services/gateway/test/fixtures/upstream-process.ts");
const GATEWAY_PROCESS = resolve(import.meta.dir, "lib/gateway-process.ts");
const GOAL = 0.001;

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

async function runScenario(
  gatewayDir: string,
  tokens: string[],
  {
    durationMs,
    killAfterMs,
    clients,
    upstreamMs,
  }: { durationMs: number; killAfterMs: number; clients: number; upstreamMs: number },
): Promise<Run> {
  const monolith = spawnChild(["bun", FIXTURE, "monolith", String(upstreamMs)]);
  const candidate = spawnChild(["bun", FIXTURE, "reference-data", String(upstreamMs)]);
  const [monolithUrl, candidateUrl] = await Promise.all([urlOf(monolith), urlOf(candidate)]);
  const gateway = spawnChild([
    "bun",
    GATEWAY_PROCESS,
    gatewayDir,
    monolithUrl,
    candidateUrl,
    DEV_SECRET_DEFAULT,
  ]);
  const gatewayUrl = await urlOf(gateway);
  try {
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
    candidate.proc.kill("SIGKILL");
    await candidate.proc.exited;
    children.delete(candidate);
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
    await Promise.all([stopChild(gateway), stopChild(monolith)]);
    if (children.has(candidate)) await stopChild(candidate);
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
  if (killAfterMs >= durationMs) usageError(USAGE, "--kill-after must be less than --duration");
  const now = resolve(ROOT, flags.gateway ?? "services/gateway");
  const before = flags.before === undefined ? undefined : resolve(flags.before);
  cleanupOnSignals("stopping the processes this script started", () =>
    Promise.all([...children].map((c) => stopChild(c))),
  );

  line(
    `dead candidate: ${clients} clients over ${consumers} consumers, GET /api/codes/00103, reference-data 50/50`,
  );
  line(`kill -9 of the candidate ${killAfterMs / 1000} s in, ${durationMs / 1000} s in all`);
  line(`stand-in monolith and candidate answer after ${upstreamMs} ms (requests are in flight at the kill)`);
  line(`load average before (1 / 5 / 15 min): ${loadAverage(" / ")}`);
  const tokens = await Promise.all(
    Array.from({ length: consumers }, (_, i) =>
      mintDevToken({ secret: DEV_SECRET_DEFAULT, sub: `consumer-${i}`, tenant: "bench", roles: ["viewer"] }),
    ),
  );
  const options = { durationMs, killAfterMs, clients, upstreamMs };

  let old: Figures | undefined;
  if (before) {
    old = figuresOf(await runScenario(before, tokens, options));
    print(`Before: ${before}`, old);
  }
  const current = figuresOf(await runScenario(now, tokens, options));
  print(`Now: ${now}`, current);
  check(current.requests > 0, "no answers at all: the gateway did not serve");

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
