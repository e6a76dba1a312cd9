/**
 * The builtin load-gate engine's capacity: requests per second it drives against a trivial endpoint, so that it
 * is not the bottleneck it measures (goal ≥ 5,000 req/s on this machine), side by side with autocannon against
 * the same endpoint with as many connections as VUs.
 *
 *   bun bench/loadgate.ts [--duration 10] [--vus 64]
 *
 * How: a Bun.serve answering "ok" runs as its own process on 127.0.0.1; the engine runs a k6 script (one
 * `await http.asyncRequest("GET", …)` per iteration, constant-vus) in this process for `--duration` seconds after
 * a 2 s warmup, and its http_reqs rate is the figure; then autocannon (in this process too) for the same time.
 * Both share the machine with the upstream (2 cores here), so the ratio is what compares them.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { runGate } from "../packages/loadgate/src/index.ts";
import { parseFlags, usageError } from "./lib/cli.ts";
import { check, heading, int, kv, line, loadAverage, printSummary, summary, verdict } from "./lib/report.ts";

const USAGE = `usage: bun bench/loadgate.ts [--duration 10] [--vus 64]
  --duration  seconds of each measured run, after a 2 s warmup (default 10)
  --vus       VUs of the engine and connections of autocannon (default 64)`;
const GOAL = 5000;
const WARMUP_S = 2;

const values = parseFlags(USAGE, ["duration", "vus"]);
const duration = Number(values.duration ?? "10");
const vus = Number(values.vus ?? "64");
if (!(duration > 0))
  usageError(USAGE, `--duration must be a positive number of seconds (got ${values.duration})`);
if (!Number.isInteger(vus) || vus < 1)
  usageError(USAGE, `--vus must be a positive integer (got ${values.vus})`);

const SCRIPT = `import { check } from "k6";
import http from "k6/http";
export const options = {
  scenarios: { bench: { executor: "constant-vus", vus: Number(__ENV.VUS), duration: __ENV.DURATION } },
  thresholds: { http_req_failed: ["rate<0.01"], checks: ["rate>0.99"] },
};
export default async function () {
  const res = await http.asyncRequest("GET", __ENV.BASE_URL + "/", null, { tags: { name: "trivial" } });
  check(res, { ok: (r) => r.status === 200 });
}
`;

const UPSTREAM = `const s = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("ok") });
console.log(s.port);`;

const dir = await mkdtemp(join(tmpdir(), "fig-bench-loadgate-"));
const script = join(dir, "trivial.js");
await Bun.write(script, SCRIPT);
const upstream = Bun.spawn(["bun", "-e", UPSTREAM], { stdout: "pipe", stderr: "inherit" });
const cleanup = async () => {
  upstream.kill();
  await upstream.exited;
  await rm(dir, { recursive: true, force: true });
};
process.on("SIGINT", () => void cleanup().finally(() => process.exit(130)));

try {
  const reader = upstream.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const port = Number(new TextDecoder().decode(value).trim());
  if (!Number.isInteger(port) || port <= 0) throw new Error("the upstream did not say its port");
  const url = `http://127.0.0.1:${port}/`;

  heading(
    `loadgate. builtin engine vs autocannon, ${vus} VUs/connections, ${duration} s (goal ≥ ${int(GOAL)} req/s)`,
  );
  line(
    `  How: k6 script with one await http.asyncRequest per iteration, constant-vus, in this process; Bun.serve`,
  );
  line(
    `  "ok" upstream in its own process; ${WARMUP_S} s warmup each; load average before: ${loadAverage()}`,
  );

  const gate = (seconds: number) =>
    runGate({
      script,
      engine: "builtin",
      env: { BASE_URL: `http://127.0.0.1:${port}`, VUS: String(vus), DURATION: `${seconds}s` },
      includeSystemEnv: false,
    });
  await gate(WARMUP_S);
  const result = await gate(duration);
  const reqs = result.summary.metrics.http_reqs as { count: number; rate: number };
  check(result.verdict === "pass", `the engine's own gate did not pass: ${result.verdict}`);
  check(result.numbers.errorRate === 0, `the engine saw errors: ${result.numbers.errorRate}`);
  kv(
    "builtin engine",
    `${int(reqs.rate)} req/s (${int(reqs.count)} requests, p95 ${result.numbers.p95?.toFixed(2)} ms)`,
  );

  await autocannon({ url, connections: vus, duration: WARMUP_S });
  const cannon = await autocannon({ url, connections: vus, duration });
  check(
    cannon.errors === 0 && cannon.non2xx === 0,
    `autocannon saw ${cannon.errors} errors, ${cannon.non2xx} non-2xx`,
  );
  kv("autocannon (same endpoint)", `${int(cannon.requests.average)} req/s (p99 ${cannon.latency.p99} ms)`);
  const ratio = reqs.rate / cannon.requests.average;
  kv("builtin / autocannon", `${(ratio * 100).toFixed(0)} %`);

  summary.push({
    figure: "builtin engine vs trivial Bun.serve",
    result: `${int(reqs.rate)} req/s (${(ratio * 100).toFixed(0)} % of autocannon's ${int(cannon.requests.average)})`,
    goal: `≥ ${int(GOAL)} req/s`,
    verdict: verdict(reqs.rate >= GOAL),
  });
} catch (error) {
  check(false, `could not measure: ${(error as Error).stack ?? error}`);
} finally {
  await cleanup();
}
line();
process.exit(printSummary());
