/**
 * `bun bench/gateway-kv.ts [--changes N]`: how long a weight change takes to reach another gateway replica
 * through NATS KV (issue 8: "every replica watches the bucket and applies a change within 1 s").
 * Two route stores (the gateway's own createKvRouteStore, as two replicas) on one bucket of a throwaway
 * namespace on the real NATS (NATS_URL, else 127.0.0.1:4222); replica A writes, replica B's watch is polled every 1 ms
 * until it shows the new weights. Prints p50/p99/max over N changes. The bucket is deleted at the end.
 */

import { createNatsClient } from "../packages/events/src/index.ts";
import { createLogger } from "../packages/service/src/index.ts";
import { TEST_NATS_URL } from "../packages/testing/src/index.ts";
import { createKvRouteStore } from "../services/gateway/src/state/kv-store.ts";
import { routeTable } from "../services/gateway/test/fixtures/dash-routes.ts";
import { heading, kv, loadAverage, ms } from "./lib/report.ts";

const changes = Number(Bun.argv[Bun.argv.indexOf("--changes") + 1] || 200) || 200;
const bucket = `bench_${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}_gateway_routes`;
const logger = createLogger({ service: "bench-gateway-kv", level: "silent" });
const table = routeTable({
  urls: {
    monolith: "http://127.0.0.1:1",
    referenceData: "http://127.0.0.1:2",
    validation: "http://127.0.0.1:3",
  },
});
const routes = [table.defaultRoute, ...table.routes];
const clients = [0, 1].map((i) => createNatsClient({ servers: TEST_NATS_URL, name: `bench-kv-${i}` }));
const [a, b] = clients.map((nats) =>
  createKvRouteStore({ connection: () => nats.connection(), bucket, routes, logger, retryMs: 100 }),
) as [ReturnType<typeof createKvRouteStore>, ReturnType<typeof createKvRouteStore>];

heading(`gateway KV: weight change → applied on another replica (load ${loadAverage()})`);
const delays: number[] = [];
try {
  await a.start();
  await b.start();
  const deadline = Date.now() + 30_000;
  while (!(a.health().loaded && b.health().loaded)) {
    if (Date.now() > deadline) throw new Error("the two stores did not load the bucket within 30 s");
    await Bun.sleep(5);
  }
  for (let i = 0; i < changes; i++) {
    const share = (i % 99) + 1;
    const started = performance.now();
    await a.change(
      "validation",
      { kind: "weights", weights: { monolith: 100 - share, validation: share } },
      { who: "bench", why: null },
    );
    while (b.get("validation")?.weights.validation !== share) await Bun.sleep(1);
    delays.push(performance.now() - started);
  }
  delays.sort((x, y) => x - y);
  const at = (q: number) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))] as number;
  kv("changes", String(changes));
  kv("p50 / p99 / max", `${ms(at(0.5))} / ${ms(at(0.99))} / ${ms(delays.at(-1) as number)}`);
  kv("goal", `≤ 1 s: ${(delays.at(-1) as number) <= 1000 ? "met" : "missed"} (max)`);
} finally {
  await a.stop();
  await b.stop();
  // A KV bucket is the stream KV_<bucket>.
  const [first] = clients;
  if (first) await (await first.manager()).streams.delete(`KV_${bucket}`).catch(() => false);
  for (const c of clients) await c.close();
}
