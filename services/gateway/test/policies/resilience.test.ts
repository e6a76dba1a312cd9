import { afterAll, describe, expect, test } from "bun:test";
import { createBreakers } from "../../src/policies/breaker.ts";
import { createRetryBudget } from "../../src/policies/retry.ts";
import { routeTable } from "../fixtures/dash-routes.ts";
import { bearer, testGateway, until } from "../harness.ts";
import { startUpstream, type TestUpstream } from "./upstream.ts";

// Real upstreams on ports; the full gateway app (auth, rate limit, routing, policies) in process.
const monolith = startUpstream();
const validation = startUpstream();
const referenceData = startUpstream();
afterAll(async () => {
  await Promise.all([monolith.stop(), validation.stop(), referenceData.stop()]);
});
const urls = { monolith: monolith.url, referenceData: referenceData.url, validation: validation.url };

function reset() {
  for (const upstream of [monolith, validation, referenceData]) {
    upstream.hits.length = 0;
    upstream.aborted.length = 0;
  }
  monolith.handle(() => Response.json({ from: "monolith" }));
  validation.handle(() => Response.json({ from: "validation" }));
  referenceData.handle(() => Response.json({ from: "reference-data" }));
}

async function gatewayWith(options: Parameters<typeof testGateway>[0] & { validationWeight?: number } = {}) {
  const g = testGateway({ urls, ...options });
  if (options.validationWeight !== undefined) {
    await g.store.change(
      "validation",
      {
        kind: "weights",
        weights: { monolith: 100 - options.validationWeight, validation: options.validationWeight },
      },
      { who: "test", why: "resilience test" },
    );
  }
  return g;
}

async function get(g: Awaited<ReturnType<typeof gatewayWith>>, path: string, init: RequestInit = {}) {
  const response = await g.app.request(path, { ...init, headers: { ...(await bearer()), ...init.headers } });
  const text = await response.text();
  return {
    status: response.status,
    servedBy: response.headers.get("fig-served-by"),
    text,
    headers: response.headers,
  };
}

const hitsOf = (upstream: TestUpstream, method = "GET") =>
  upstream.hits.filter((h) => h.method === method).length;

describe("resilience through the gateway", () => {
  test("the breaker opens, the candidate's share goes to the monolith, then it half-opens and closes", async () => {
    reset();
    validation.handle(() => Response.json({ error: "down" }, { status: 500 }));
    const breakers = createBreakers({ minimumRequests: 20, windowMs: 3_600_000, halfOpenAfterMs: 200 });
    const g = await gatewayWith({ validationWeight: 100, breakers });

    for (let i = 0; i < 20; i++) expect((await get(g, "/api/files")).status).toBe(500);
    expect(breakers.state("validation")).toBe("open");

    // Open: served by the monolith, the candidate not called; visible in metrics and /_fig/routes.
    const diverted = await get(g, "/api/files");
    expect(diverted).toMatchObject({ status: 200, servedBy: "monolith" });
    expect(hitsOf(validation)).toBe(20);
    const metrics = await (await g.app.request("/metrics")).text();
    expect(metrics).toMatch(/gateway_diverted_total\{[^}]*reason="breaker_open"[^}]*\} 1/);

    // Cool-down over, upstream healthy: the next request is the probe, and the breaker closes.
    validation.handle(() => Response.json({ from: "validation" }));
    await until(() => !breakers.isOpen("validation"), "the breaker's cool-down");
    expect(await get(g, "/api/files")).toMatchObject({ status: 200, servedBy: "validation" });
    expect(breakers.state("validation")).toBe("closed");
    expect(await get(g, "/api/files")).toMatchObject({ status: 200, servedBy: "validation" });
  });

  test("POST is never retried, even with another upstream and a 503", async () => {
    reset();
    validation.handle(() => Response.json({ error: "busy" }, { status: 503 }));
    // writes: owner-per-request, so the POST follows the weights to the candidate.
    const g = await gatewayWith({ validationWeight: 100 });
    const response = await g.app.request("/api/validations", {
      method: "POST",
      headers: { ...(await bearer({ roles: ["editor"] })), "content-type": "text/csv" },
      body: "code;amount\nA;1\n",
    });
    expect(response.status).toBe(503);
    expect(response.headers.get("fig-served-by")).toBe("validation");
    expect(hitsOf(validation, "POST")).toBe(1);
    expect(monolith.hits).toHaveLength(0);
  });

  test("a GET answered 503 is retried once on the other upstream", async () => {
    reset();
    validation.handle(() => Response.json({ error: "busy" }, { status: 503 }));
    const g = await gatewayWith({ validationWeight: 100 });
    expect(await get(g, "/api/files")).toMatchObject({ status: 200, servedBy: "monolith" });
    expect(hitsOf(validation)).toBe(1);
    expect(hitsOf(monolith)).toBe(1);
  });

  test("a retry never goes to a candidate at 0 %: it retries the monolith itself", async () => {
    reset();
    let calls = 0;
    monolith.handle(() =>
      ++calls === 1 ? Response.json({ error: "busy" }, { status: 503 }) : Response.json({ from: "monolith" }),
    );
    const g = await gatewayWith({ validationWeight: 0 });
    expect(await get(g, "/api/files")).toMatchObject({ status: 200, servedBy: "monolith" });
    expect(hitsOf(monolith)).toBe(2);
    expect(hitsOf(validation)).toBe(0);
  });

  test("the retry budget is honoured: 20 % of requests at most", async () => {
    reset();
    monolith.handle(() => Response.json({ error: "busy" }, { status: 503 }));
    validation.handle(() => Response.json({ error: "busy" }, { status: 503 }));
    // No floor and a window longer than the test: the ratio alone decides, on any machine.
    const budget = createRetryBudget({ ratio: 0.2, minRetriesPerSecond: 0, windowMs: 3_600_000 });
    const breakers = createBreakers({ minimumRequests: 1_000_000 }); // kept closed: this test is about retries
    const g = await gatewayWith({ validationWeight: 50, budget, breakers });
    const requests = 60;
    for (let i = 0; i < requests; i++) expect((await get(g, "/api/files")).status).toBe(503);
    const attempts = hitsOf(monolith) + hitsOf(validation);
    expect(attempts - requests).toBe(12);
    expect(budget.stats()).toMatchObject({ requests, retries: 12 });
  });

  test("a timeout is a 504 problem, and the upstream sees the abort", async () => {
    reset();
    referenceData.handle(
      (request) =>
        new Promise((resolve) => request.signal.addEventListener("abort", () => resolve(new Response()))),
    );
    const table = routeTable({ urls, perMinute: 1_000_000, timeoutMs: 100 });
    const g = await gatewayWith({ table });
    await g.store.change(
      "reference-data",
      { kind: "weights", weights: { monolith: 0, "reference-data": 100 } },
      { who: "test", why: null },
    );
    const response = await g.app.request("/api/codes", { headers: await bearer() });
    expect(response.status).toBe(504);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(response.headers.get("fig-served-by")).toBe("reference-data");
    expect(await response.json()).toMatchObject({
      type: "https://fig.dev/problems/gateway_timeout",
      status: 504,
    });
    await referenceData.abortedCount(1);
    expect(monolith.hits).toHaveLength(0);
  });

  test("read fallback, both directions, on the validation route", async () => {
    reset();
    const only = (id: string, from: string) => (request: Request) =>
      new URL(request.url).pathname === `/api/validations/${id}`
        ? Response.json({ id, from, archived: from === "monolith" })
        : Response.json({ status: 404 }, { status: 404 });
    monolith.handle(only("archived-1", "monolith"));
    validation.handle(only("new-1", "validation"));

    // A user whose bucket points at the new service reads an archived run.
    const onCandidate = await gatewayWith({ validationWeight: 100 });
    const archived = await get(onCandidate, "/api/validations/archived-1");
    expect(archived).toMatchObject({ status: 200, servedBy: "monolith" });
    expect(JSON.parse(archived.text)).toMatchObject({ id: "archived-1", archived: true });

    // A user whose bucket points at the monolith reads a run created on the new service.
    const onMonolith = await gatewayWith({ validationWeight: 0 });
    const created = await get(onMonolith, "/api/validations/new-1");
    expect(created).toMatchObject({ status: 200, servedBy: "validation" });

    // Found nowhere: 404.
    expect((await get(onMonolith, "/api/validations/nope")).status).toBe(404);
  });

  test("a route without the breaker policy (the default route) never trips a breaker", async () => {
    reset();
    monolith.handle(() => Response.json({ error: "down" }, { status: 500 }));
    const breakers = createBreakers({ minimumRequests: 20, windowMs: 3_600_000, halfOpenAfterMs: 3_600_000 });
    const g = await gatewayWith({ breakers });
    // /api/legacy is not carved out: the default route, whose policies say breaker: false.
    for (let i = 0; i < 25; i++) expect((await get(g, "/api/legacy")).status).toBe(500);
    expect(breakers.state("monolith")).toBe("closed");
    monolith.handle(() => Response.json({ from: "monolith" }));
    expect(await get(g, "/api/legacy")).toMatchObject({ status: 200, servedBy: "monolith" });
    expect(hitsOf(monolith)).toBe(26);
  });
});
