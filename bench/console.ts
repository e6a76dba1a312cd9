/**
 * bench/console.ts — the console's figures, in Debian's chromium (playwright-core), against an in-process
 * gateway on a real socket:
 *   first paint: with 20 routes and 50 past promotions, from navigation to the map and to the promotions
 *     section rendered (token already in sessionStorage, as after the first visit in a tab);
 *   weight change → page: from the admin API's PUT leaving this process to the weight bar showing it.
 *
 *   bun bench/console.ts [--runs 7] [--changes 30]
 */
import { parseArgs } from "node:util";
import { promotionsOf } from "../services/gateway/src/console/promotions.ts";
import { MONOLITH, type RouteDefinition } from "../services/gateway/src/routes.ts";
import { createMemoryRouteStore } from "../services/gateway/src/state/memory-store.ts";
import { openBrowser } from "../services/gateway/test/console/browser.ts";
import { routeTable } from "../services/gateway/test/fixtures/dash-routes.ts";
import { auth, silent, testGateway } from "../services/gateway/test/harness.ts";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: { runs: { type: "string", default: "7" }, changes: { type: "string", default: "30" } },
});
const RUNS = Number(values.runs);
const CHANGES = Number(values.changes);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.95) - 1] ?? Number.NaN;

// 20 routes: the default one and 19 carved out, each with its own candidate service.
const base = routeTable({
  urls: {
    monolith: "http://127.0.0.1:9",
    referenceData: "http://127.0.0.1:9",
    validation: "http://127.0.0.1:9",
  },
  perMinute: 1_000_000,
});
const template = base.routes[0] as RouteDefinition;
const routes: RouteDefinition[] = Array.from({ length: 19 }, (_, i) => ({
  ...template,
  id: `svc-${i + 1}`,
  prefixes: [`/api/svc-${i + 1}`],
  upstreams: [
    { name: MONOLITH, url: "http://127.0.0.1:9", weight: 100 },
    { name: `svc-${i + 1}`, url: "http://127.0.0.1:9", weight: 0 },
  ],
  policies: { ...template.policies, shadow: false },
}));
const table = { defaultRoute: base.defaultRoute, routes };

// 50 past promotions in packages/promote's record shape, 4 steps each with their numbers.
const thresholds = [
  {
    key: "http_req_duration",
    expression: "p(95)<500",
    ok: true,
    inconclusive: false,
    value: 40,
    samples: 300,
  },
  { key: "http_req_failed", expression: "rate<0.01", ok: true, inconclusive: false, value: 0, samples: 300 },
];
const promotions = Array.from({ length: 50 }, (_, i) => {
  const route = `svc-${(i % 19) + 1}`;
  const t0 = Date.now() - (50 - i) * 3_600_000;
  const at = (s: number) => new Date(t0 + s * 60_000).toISOString();
  const steps = [10, 25, 50, 100];
  const decisions = steps.map((w, s) => ({
    step: s + 1,
    of: 4,
    attempt: 1,
    weights: { [MONOLITH]: 100 - w, [route]: w },
    startedAt: at(s),
    at: at(s + 1),
    verdict: i % 5 === 0 && s === 2 ? "fail" : "pass",
    reason: "gate pass, gateway pass",
    gate: { engine: "builtin", numbers: { p95: 30 + s, errorRate: 0, requests: 500 }, thresholds },
    gateway: { numbers: { p95: 31 + s, errorRate: 0.001 * s, requests: 300 }, thresholds },
  }));
  return {
    id: `p${i}`,
    route,
    candidate: route,
    stable: MONOLITH,
    state: i % 5 === 0 ? "rolled-back" : "promoted",
    steps,
    step: 4,
    stepDurationMs: 60_000,
    actor: "bench",
    startedAt: at(0),
    finishedAt: at(5),
    reason: i % 5 === 0 ? "step 3 of 4: gateway http_req_failed rate<0.01 was 0.02" : null,
    decisions: i % 5 === 0 ? decisions.slice(0, 3) : decisions,
    events: steps.map((w, s) => ({
      at: at(s),
      what: "weights",
      actor: "bench",
      detail: null,
      weights: { [MONOLITH]: 100 - w, [route]: w },
    })),
  };
});

const store = createMemoryRouteStore([table.defaultRoute, ...table.routes]);
const gateway = testGateway({
  table,
  store,
  logger: silent,
  console: { promotions: async () => promotionsOf({ promotions }) },
});
const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: gateway.app.fetch, idleTimeout: 0 });
const url = `http://127.0.0.1:${server.port}`;
// The console reads as an operator: role operator in the operator tenant.
const token = await auth.token({ roles: ["operator"], tenant: "platform", sub: "bench" });
const browser = await openBrowser();

try {
  // Token in sessionStorage before the page's scripts run; the page records when each section arrives.
  await browser.context.addInitScript((t) => {
    sessionStorage.setItem("fig.console.token", t);
    const w = window as unknown as { figArrived: Record<string, number> };
    w.figArrived = {};
    document.addEventListener("fig:updated", (e) => {
      const id = (e.target as HTMLElement).id.replace("section-", "");
      w.figArrived[id] ??= performance.now();
    });
  }, token);

  const map: number[] = [];
  const promos: number[] = [];
  const fcp: number[] = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const page = await browser.context.newPage();
    await page.goto(`${url}/_fig/console#map`);
    await page.locator("#section-map table.routes tbody tr").nth(19).waitFor();
    await page.waitForFunction(
      () => (window as unknown as { figArrived: Record<string, number> }).figArrived.promotions !== undefined,
    );
    const r = await page.evaluate(() => ({
      arrived: (window as unknown as { figArrived: Record<string, number> }).figArrived,
      fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? Number.NaN,
    }));
    if (i > 0) {
      // The first load warms the asset caches (gzip, file reads): a returning visitor's figure.
      map.push(r.arrived.map ?? Number.NaN);
      promos.push(r.arrived.promotions ?? Number.NaN);
      fcp.push(r.fcp);
    }
    await page.close();
  }

  const page = await browser.context.newPage();
  await page.goto(`${url}/_fig/console#map`);
  await page.locator("#route-svc-1 .weightbar").waitFor();
  const delays: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const weight = (i % 9) * 10 + 10;
    const seen = page.waitForFunction(
      (w) =>
        document
          .querySelector("#route-svc-1 .weightbar")
          ?.getAttribute("aria-label")
          ?.includes(`svc-1 ${w} %`)
          ? Date.now()
          : false,
      weight,
      { polling: "raf" },
    );
    const sent = Date.now();
    const res = await fetch(`${url}/_fig/routes/svc-1/weights`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ weights: { [MONOLITH]: 100 - weight, "svc-1": weight } }),
    });
    if (!res.ok) throw new Error(`PUT weights: ${res.status}`);
    const shown = (await (await seen).jsonValue()) as number;
    delays.push(shown - sent);
  }

  const f = (x: number) => `${x.toFixed(0)} ms`;
  console.log(
    `console first paint, 20 routes + 50 past promotions (median of ${RUNS} loads, chromium headless):`,
  );
  console.log(`  first contentful paint (shell)        ${f(median(fcp))}`);
  console.log(`  migration map rendered (SSE section)  ${f(median(map))}   (p95 ${f(p95(map))})`);
  console.log(`  promotions section rendered           ${f(median(promos))}   (p95 ${f(p95(promos))})`);
  console.log(`weight change (admin API PUT) → weight bar shows it, ${CHANGES} changes:`);
  console.log(
    `  median ${f(median(delays))}   p95 ${f(p95(delays))}   max ${f(Math.max(...delays))}   (route state checked every 25 ms, full render every 1 s)`,
  );
} finally {
  await browser.close();
  server.stop(true);
}
