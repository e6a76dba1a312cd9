/**
 * The gateway's request path in process, no sockets: how many µs of the JS thread each layer takes per request.
 * The gateway's JS thread is its throughput bottleneck (fetch does the upstream I/O on Bun's HTTP thread), so
 * this is the figure to move when optimising it; unlike wrk's CPU per request through real sockets (bench/
 * gateway.ts --only breakdown), it depends far less on how busy the other processes are, though it still moves
 * ±20 % between runs (JIT tiers): compare several runs, or the bytes-allocated column, which moves far less.
 *
 * Every layer gets the same requests (a GET of a carved-out route with a dev JWT) and a canned 1 KB upstream
 * answer (an async `send` that resolves at once), serially; µs per request is the best of --rounds timed runs
 * of --requests requests each, after a warm-up of the same size (the JIT needs it). Bytes allocated per
 * request come from each layer run alone in a child with JSC's GC log on: they set how often the GC pauses.
 *
 *   harness   — new Request + the canned Response + reading its body: what every row below also pays
 *   forward   — + the resilient send alone (route deadline, breaker, retry budget; policies/resilient-send.ts)
 *   handler   — + the proxy handler in a plain Hono app (route match, JWT identify, token bucket, auth,
 *               upstream choice, header rewriting both ways, gateway metrics; proxy/forward.ts)
 *   full      — buildGateway(), the app main.ts serves: a proxied request takes its fast path (proxy/fast-path.ts:
 *               request id, span, HTTP metrics, the access line, problem errors, without Hono's chain); the
 *               logger is at info, so the access line is built (written to a sink that drops it); the tracer
 *               is production's without an OTLP endpoint (setupTracing: ids only, a trace id on the access line
 *               and a traceparent sent upstream; before 2026-12-07 afternoon the API's no-op tracer, which made none)
 *
 * Usage: bun bench/gateway-pipeline.ts [--requests 60000] [--rounds 3]
 */
import { mintDevToken } from "../packages/auth/src/index.ts";
import { createLogger, setupTracing } from "../packages/service/src/index.ts";
import { buildGateway } from "../services/gateway/src/app.ts";
import { createBreakers } from "../services/gateway/src/policies/breaker.ts";
import { createResilientSend } from "../services/gateway/src/policies/resilient-send.ts";
import { createRetryBudget } from "../services/gateway/src/policies/retry.ts";
import { parseFlags, usageError } from "./lib/cli.ts";
import { gatewayParts, plainProxyApp } from "./lib/gateway-variants.ts";
import { check, heading, line, loadAverage, printSummary, summary, verdict } from "./lib/report.ts";

const USAGE = `usage: bun bench/gateway-pipeline.ts [--requests <n>] [--rounds <n>]
  --requests  requests per timed run (default 60000; the warm-up is as many)
  --rounds    timed runs per layer, the best is reported (default 3)
  (--alloc-layer <name> is internal: one layer alone, for the allocation figure)`;

const values = parseFlags(USAGE, ["requests", "rounds", "alloc-layer"]);
const requests = Number(values.requests ?? 60_000);
const rounds = Number(values.rounds ?? 3);
if (!Number.isInteger(requests) || requests < 1000) usageError(USAGE, "--requests must be an integer ≥ 1000");
if (!Number.isInteger(rounds) || rounds < 1) usageError(USAGE, "--rounds must be an integer ≥ 1");

const SECRET = `fig-bench-${crypto.randomUUID()}`;
const URL_ = "http://127.0.0.1:8080/api/codes/00103"; // the reference-data route: auth, limits, weights
const { table, store, verifier, logger } = gatewayParts("http://127.0.0.1:9", SECRET);
await store.change(
  "reference-data",
  { kind: "weights", weights: { monolith: 50, "reference-data": 50 } },
  { who: "bench", why: "weighted routing on" },
);
const body = new Uint8Array(1024).fill(32);
const send = async () =>
  new Response(body, {
    status: 200,
    headers: { "content-type": "application/json", "content-length": "1024" },
  });
const token = await mintDevToken({
  secret: SECRET,
  sub: "bench",
  tenant: "bench",
  roles: ["viewer"],
  ttl: "2h",
});
const headers = { authorization: `Bearer ${token}`, host: "127.0.0.1:8080", "user-agent": "wrk" };
// Hono passes the server as c.env: the gateway asks it for the client's address.
const server = { requestIP: () => ({ address: "127.0.0.1", family: "IPv4", port: 40000 }) };

type Layer = { name: string; label: string; handle: (request: Request) => Response | Promise<Response> };
const forward = createResilientSend({ send, breakers: createBreakers(), budget: createRetryBudget() });
const plain = plainProxyApp({ table, store, verifier, logger }, send, () => "127.0.0.1");
// The access log on, as in production, into a sink that drops the lines (the cost is building them).
const accessLogger = createLogger({
  service: "gateway",
  level: "info",
  destination: { write: () => {} },
});
// The tracer main.ts gets from runService without OTEL_EXPORTER_OTLP_ENDPOINT: ids only (a trace id on the
// access line, a traceparent sent upstream), as in production; without it the API's no-op tracer made no ids.
const { tracer } = setupTracing({ serviceName: "gateway" });
const { app } = buildGateway({ table, store, verifier, logger: accessLogger, send, tracer });

const layers: Layer[] = [
  { name: "harness", label: "harness: new Request, canned answer, body read", handle: () => send() },
  {
    name: "forward",
    label: "+ resilient send (deadline, breaker, retry budget)",
    handle: async (r) =>
      (
        await forward({
          request: { method: "GET", url: r.url, headers: r.headers, body: null },
          upstream: "monolith",
          upstreams: ["monolith", "reference-data"],
          clientSignal: r.signal,
        })
      ).response,
  },
  { name: "handler", label: "+ proxy handler in a plain Hono app", handle: (r) => plain.fetch(r, server) },
  {
    name: "full",
    label: "buildGateway(): + createApp middleware, all routes",
    handle: (r) => app.fetch(r, server),
  },
];

async function run(layer: Layer, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const response = await layer.handle(new Request(URL_, { headers }));
    if (response.status !== 200)
      throw new Error(`${layer.name}: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
  }
}

/**
 * Bytes the JS heap allocated per request in `layer`: the layer run alone in a child process with JSC's GC
 * log on (BUN_JSC_logGC=1), summing "bytes allocated this cycle" over its collections ÷ requests. Unlike
 * time, this moves by a few % at most between runs (whole cycles only); it sets how often the GC pauses.
 */
async function bytesPerRequest(layer: Layer): Promise<number | undefined> {
  const child = Bun.spawn(
    ["bun", import.meta.path, "--alloc-layer", layer.name, "--requests", String(requests)],
    { env: { ...process.env, BUN_JSC_logGC: "1" }, stdout: "pipe", stderr: "pipe" },
  );
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  if (code !== 0) throw new Error(`${layer.name}: the allocation run exited ${code}: ${err.slice(-400)}`);
  let bytes = 0;
  let cycles = 0;
  for (const m of `${out}\n${err}`.matchAll(/bytes allocated this cycle: (\d+)/g)) {
    bytes += Number(m[1]);
    cycles++;
  }
  // Collections cover all but the last partial cycle: fine over 2 × --requests requests.
  return cycles < 3 ? undefined : bytes / (2 * requests);
}

if (values["alloc-layer"] !== undefined) {
  const layer = layers.find((l) => l.name === values["alloc-layer"]);
  if (!layer) usageError(USAGE, `--alloc-layer takes ${layers.map((l) => l.name).join(", ")}`);
  await run(layer, 2 * requests);
  process.exit(0);
}

heading("Gateway request path in process: µs of the JS thread per request, layer by layer");
line(
  `  ${requests.toLocaleString("en-US")} requests per run, best of ${rounds} (after a warm-up of as many), serial,`,
);
line(
  `  canned 1 KB upstream answer; Bun ${Bun.version}. Time moves ±20 % between runs (JIT tiers, the machine);`,
);
line(
  "  bytes allocated per request (each layer alone, JSC's GC log) move by a few % at most (less with more --requests).",
);
const best = new Map<string, number>();
const allocated = new Map<string, number | undefined>();
try {
  for (const layer of layers) await run(layer, requests);
  for (let round = 0; round < rounds; round++)
    for (const layer of layers) {
      const started = performance.now();
      await run(layer, requests);
      const us = ((performance.now() - started) * 1000) / requests;
      best.set(layer.name, Math.min(best.get(layer.name) ?? Number.POSITIVE_INFINITY, us));
    }
  for (const layer of layers) allocated.set(layer.name, await bytesPerRequest(layer));
  line();
  let previous = 0;
  let previousBytes = 0;
  for (const layer of layers) {
    const us = best.get(layer.name) ?? 0;
    const bytes = allocated.get(layer.name);
    const delta = previous ? ` (+${(us - previous).toFixed(1)})` : "";
    const bytesDelta = previousBytes && bytes !== undefined ? ` (+${Math.round(bytes - previousBytes)})` : "";
    line(
      `  ${layer.label.padEnd(56)} ${`${us.toFixed(1)} µs${delta}`.padStart(16)} ${
        bytes === undefined ? "too few GCs".padStart(20) : `${Math.round(bytes)} B${bytesDelta}`.padStart(20)
      }`,
    );
    previous = us;
    previousBytes = bytes ?? 0;
  }
  const harness = best.get("harness") ?? 0;
  const full = best.get("full") ?? 0;
  const bytesOf = (name: string) => allocated.get(name) ?? 0;
  const own = Math.round(bytesOf("full") - bytesOf("harness"));
  summary.push({
    figure: "Gateway JS per request (in process, canned upstream)",
    result: `${(full - harness).toFixed(1)} µs, ${own} B allocated`,
    goal: "≤ 3,072 B allocated",
    verdict: allocated.get("full") === undefined ? "" : verdict(own <= 3072),
    note: `${layers.map((l) => `${l.name} ${(best.get(l.name) ?? 0).toFixed(1)} µs`).join(", ")}; issue: 12 KB; load ${loadAverage()}`,
  });
} catch (error) {
  check(false, (error as Error).message);
}
process.exit(printSummary());
