import { afterAll, describe, expect, test } from "bun:test";
import { AppError } from "@fig/service";
import { createResilientSend } from "../../src/policies/resilient-send.ts";
import { createRetryBudget, isRetryable } from "../../src/policies/retry.ts";
import { closedPortUrl, sendTo, startUpstream } from "./upstream.ts";

const monolith = startUpstream(() => new Response("monolith"));
const candidate = startUpstream(() => new Response("candidate"));
afterAll(async () => {
  await monolith.stop();
  await candidate.stop();
});
const upstreams = ["monolith", "validation"] as const;
const send = sendTo({ monolith: monolith.url, validation: candidate.url });
const status = (code: number) => () => new Response(`status ${code}`, { status: code });

function reset() {
  monolith.hits.length = 0;
  candidate.hits.length = 0;
  monolith.handle(() => new Response("monolith"));
  candidate.handle(() => new Response("candidate"));
}

describe("isRetryable", () => {
  const answered = (code: number) => ({ upstream: "u", response: new Response(null, { status: code }) });
  const refused = { upstream: "u", error: new TypeError("ECONNREFUSED") };

  test.each(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"])(
    "%s: connection errors and 502/503/504",
    (method) => {
      expect(isRetryable(method, refused)).toBe(true);
      for (const code of [502, 503, 504]) expect(isRetryable(method, answered(code))).toBe(true);
      for (const code of [200, 404, 500, 501]) expect(isRetryable(method, answered(code))).toBe(false);
    },
  );

  test.each(["POST", "PATCH"])("%s is never retried", (method) => {
    expect(isRetryable(method, refused)).toBe(false);
    for (const code of [502, 503, 504]) expect(isRetryable(method, answered(code))).toBe(false);
  });

  test("a request with a body (streamed, consumed by the first attempt) is not retried", () => {
    expect(isRetryable("PUT", answered(503), true)).toBe(false);
  });

  test("neither a client abort nor the route deadline is retried", () => {
    const abort = new DOMException("client left", "AbortError");
    const timeout = new DOMException("deadline", "TimeoutError");
    expect(isRetryable("GET", { upstream: "u", error: abort })).toBe(false);
    expect(isRetryable("GET", { upstream: "u", error: timeout })).toBe(false);
  });
});

describe("retries through the resilient send (real upstreams)", () => {
  // No budget here: the budget has its own tests below, and its 3/s floor would ration these.
  const forward = createResilientSend({ send });

  test("a GET answered 503 is retried once, on the other upstream", async () => {
    reset();
    candidate.handle(status(503));
    const result = await forward({
      request: new Request("http://gateway/api/files"),
      upstream: "validation",
      upstreams,
    });
    expect(result.upstream).toBe("monolith");
    expect(await result.response.text()).toBe("monolith");
    expect(result.attempts.map((a) => [a.upstream, a.kind, a.status])).toEqual([
      ["validation", "first", 503],
      ["monolith", "retry", 200],
    ]);
  });

  test("a GET meeting a connection error is retried on the other upstream", async () => {
    reset();
    const forwardRefused = createResilientSend({
      send: sendTo({ monolith: monolith.url, validation: await closedPortUrl() }),
    });
    const result = await forwardRefused({
      request: new Request("http://gateway/api/files"),
      upstream: "validation",
      upstreams,
    });
    expect(result.upstream).toBe("monolith");
    expect(result.attempts[0]?.error).toBeDefined();
    expect(monolith.hits).toHaveLength(1);
  });

  test("at most one retry by default: both failing, the last answer is returned as is", async () => {
    reset();
    monolith.handle(status(502));
    candidate.handle(status(503));
    const result = await forward({
      request: new Request("http://gateway/api/files"),
      upstream: "validation",
      upstreams,
    });
    expect(result.response.status).toBe(502);
    expect(candidate.hits).toHaveLength(1);
    expect(monolith.hits).toHaveLength(1);
  });

  test("500 is not retried (only 502/503/504)", async () => {
    reset();
    candidate.handle(status(500));
    const result = await forward({
      request: new Request("http://gateway/api/files"),
      upstream: "validation",
      upstreams,
    });
    expect(result.response.status).toBe(500);
    expect(monolith.hits).toHaveLength(0);
  });

  test("POST is never retried: not on 503, not on a connection error, with or without a body", async () => {
    reset();
    candidate.handle(status(503));
    const withBody = await forward({
      request: new Request("http://gateway/api/validations", { method: "POST", body: "a;b\n1;2\n" }),
      upstream: "validation",
      upstreams,
    });
    expect(withBody.response.status).toBe(503);
    const bodiless = await forward({
      request: new Request("http://gateway/api/validations", { method: "POST" }),
      upstream: "validation",
      upstreams,
    });
    expect(bodiless.response.status).toBe(503);
    expect(candidate.hits.map((hit) => hit.method)).toEqual(["POST", "POST"]);
    expect(monolith.hits).toHaveLength(0);

    const forwardRefused = createResilientSend({
      send: sendTo({ monolith: monolith.url, validation: await closedPortUrl() }),
    });
    const error = await forwardRefused({
      request: new Request("http://gateway/api/validations", { method: "POST" }),
      upstream: "validation",
      upstreams,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(502);
    expect(monolith.hits).toHaveLength(0);
  });

  test("PUT and DELETE are retried on the upstream they went to (the write owner), never another", async () => {
    reset();
    let calls = 0;
    monolith.handle(() => (++calls === 1 ? new Response("busy", { status: 503 }) : new Response("done")));
    const result = await forward({
      request: new Request("http://gateway/api/codes/A", { method: "DELETE" }),
      upstream: "monolith",
      upstreams,
    });
    expect(result.response.status).toBe(200);
    expect(result.attempts.map((a) => a.upstream)).toEqual(["monolith", "monolith"]);
    expect(candidate.hits).toHaveLength(0);
  });

  test("a PUT with a body is not retried (the stream cannot be replayed)", async () => {
    reset();
    monolith.handle(status(503));
    const result = await forward({
      request: new Request("http://gateway/api/codes/A", { method: "PUT", body: '{"label":"x"}' }),
      upstream: "monolith",
      upstreams,
    });
    expect(result.response.status).toBe(503);
    expect(monolith.hits).toHaveLength(1);
  });

  test("a pinned request is retried on its pinned upstream only", async () => {
    reset();
    let calls = 0;
    candidate.handle(() =>
      ++calls === 1 ? new Response("busy", { status: 503 }) : new Response("candidate"),
    );
    const result = await forward({
      request: new Request("http://gateway/api/files"),
      upstream: "validation",
      upstreams,
      pinned: true,
    });
    expect(await result.response.text()).toBe("candidate");
    expect(monolith.hits).toHaveLength(0);
  });
});

describe("retry budget", () => {
  test("retries through the gateway stay within 20 % of requests", async () => {
    reset();
    monolith.handle(status(503));
    candidate.handle(status(503));
    // A window far longer than the test, so a slow machine cannot roll it over mid-test; no floor.
    const budget = createRetryBudget({ ratio: 0.2, minRetriesPerSecond: 0, windowMs: 3_600_000 });
    const forward = createResilientSend({ send, budget });
    const requests = 100;
    for (let i = 0; i < requests; i++) {
      const { response } = await forward({
        request: new Request("http://gateway/api/files"),
        upstream: "validation",
        upstreams,
      });
      expect(response.status).toBe(503);
    }
    const attempts = monolith.hits.length + candidate.hits.length;
    const retries = attempts - requests;
    // Every request wanted a retry; the budget granted exactly 20 % of them.
    expect(retries).toBe(20);
    expect(budget.stats()).toEqual({ requests: 100, retries: 20, rejected: 80 });
  });

  test("the ratio is over a sliding window: old requests stop earning retries", () => {
    let now = 0;
    const budget = createRetryBudget({
      ratio: 0.2,
      minRetriesPerSecond: 0,
      windowMs: 10_000,
      now: () => now,
    });
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect(budget.tryAcquire()).toBe(true);
    expect(budget.tryAcquire()).toBe(true);
    expect(budget.tryAcquire()).toBe(false);
    now = 10_500; // the ten requests have left the window
    for (let i = 0; i < 5; i++) budget.recordRequest();
    expect(budget.tryAcquire()).toBe(true);
    expect(budget.tryAcquire()).toBe(false);
    expect(budget.stats()).toMatchObject({ requests: 5, retries: 1 });
  });

  test("a floor of minRetriesPerSecond lets a quiet route retry (Envoy's min_retry_concurrency: 3)", () => {
    let now = 0;
    const budget = createRetryBudget({ now: () => now });
    budget.recordRequest();
    expect([budget.tryAcquire(), budget.tryAcquire(), budget.tryAcquire(), budget.tryAcquire()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    now = 1_000; // the next second: three more
    expect(budget.tryAcquire()).toBe(true);
  });

  test("without retryable outcomes the budget is not touched", async () => {
    reset();
    const budget = createRetryBudget({ minRetriesPerSecond: 0, windowMs: 3_600_000 });
    const forward = createResilientSend({ send, budget });
    await forward({ request: new Request("http://gateway/api/files"), upstream: "validation", upstreams });
    expect(budget.stats()).toEqual({ requests: 1, retries: 0, rejected: 0 });
  });
});
