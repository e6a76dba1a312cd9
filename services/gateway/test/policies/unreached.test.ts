import { afterAll, describe, expect, test } from "bun:test";
import { AppError } from "@fig/service";
import { BrokenCircuitError, createBreakers } from "../../src/policies/breaker.ts";
import { createResilientSend } from "../../src/policies/resilient-send.ts";
import { createRetryBudget } from "../../src/policies/retry.ts";
import { neverReached, sendableAgain } from "../../src/policies/unreached.ts";
import { closedPortUrl, sendTo, startUpstream } from "./upstream.ts";

const received: string[] = [];
const monolith = startUpstream(async (request) => {
  received.push(await request.text());
  return new Response("monolith");
});
// A TCP server that reads the request and then resets the connection: the request reached it, no answer came.
let resetBytes = 0;
const resetting = Bun.listen({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    data(socket, data) {
      resetBytes += data.length;
      socket.terminate();
    },
  },
});
const refusedUrl = await closedPortUrl();
afterAll(async () => {
  await monolith.stop();
  resetting.stop(true);
});
const upstreams = ["monolith", "validation"] as const;
const refusing = sendTo({ monolith: monolith.url, validation: refusedUrl });
const resetsAfterReading = sendTo({
  monolith: monolith.url,
  validation: `http://127.0.0.1:${resetting.port}`,
});
// No retry at all: a ratio of 0 and no floor, so anything that reaches the monolith did so outside the budget.
const noRetries = () => createRetryBudget({ ratio: 0, minRetriesPerSecond: 0, windowMs: 3_600_000 });

function reset() {
  monolith.hits.length = 0;
  received.length = 0;
  resetBytes = 0;
}

const errorOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

/**
 * A keep-alive upstream that answers the first request on a connection, then reads the second, stops
 * listening and closes that connection without an answer: the second request reached it, and any new
 * connection is refused.
 */
function dyingAfterOneAnswer() {
  const seen: string[] = [];
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket, data) {
        seen.push(new TextDecoder().decode(data).split("\r\n")[0] as string);
        if (seen.length === 1) {
          socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok");
          return;
        }
        listener.stop(false);
        socket.terminate();
      },
    },
  });
  return { url: `http://127.0.0.1:${listener.port}/x`, seen };
}

describe("neverReached: only what certainly sent nothing", () => {
  test("a refused POST or PATCH, in Bun's spelling and Node's, and a breaker's refusal of any method", async () => {
    const refused = await errorOf(fetch(`${refusedUrl}/x`, { method: "POST" }));
    expect(refused).toBeInstanceOf(Error);
    expect(neverReached(refused, "POST")).toBe(true);
    expect(neverReached(refused, "patch")).toBe(true);
    const bun13 = Object.assign(new Error("Unable to connect"), { code: "ConnectionRefused" });
    expect(neverReached(bun13, "POST")).toBe(true);
    expect(neverReached(new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }), "POST")).toBe(
      true,
    );
    expect(neverReached(new BrokenCircuitError(), "GET")).toBe(true);
    expect(neverReached(new BrokenCircuitError(), "PUT")).toBe(true);
  });

  test("fetch replays an idempotent request after a kept-alive connection closes: its refusal proves nothing", async () => {
    const upstream = dyingAfterOneAnswer();
    expect(await (await fetch(upstream.url)).text()).toBe("ok");
    const error = await errorOf(fetch(upstream.url, { method: "PUT" }));
    // The upstream read the PUT, and yet fetch reports a refused connection (its replay's).
    expect(upstream.seen).toEqual(["GET /x HTTP/1.1", "PUT /x HTTP/1.1"]);
    expect(neverReached(error, "PUT")).toBe(false);
    for (const method of ["GET", "HEAD", "OPTIONS", "DELETE"])
      expect(neverReached(new TypeError("refused", { cause: { code: "ECONNREFUSED" } }), method)).toBe(false);

    // A POST is not replayed: the same death is a reset, which may have been processed.
    const post = dyingAfterOneAnswer();
    await (await fetch(post.url)).text();
    const reset = await errorOf(fetch(post.url, { method: "POST", body: "x" }));
    expect(post.seen).toEqual(["GET /x HTTP/1.1", "POST /x HTTP/1.1"]);
    expect(neverReached(reset, "POST")).toBe(false);
  });

  test("a reset after the request was written, a timeout, an abort and plain errors are not", async () => {
    reset();
    const resetError = await errorOf(fetch(`http://127.0.0.1:${resetting.port}/x`, { method: "POST" }));
    expect(resetError).toBeInstanceOf(Error);
    expect(resetBytes).toBeGreaterThan(0);
    expect(neverReached(resetError, "POST")).toBe(false);
    expect(neverReached(new DOMException("deadline", "TimeoutError"), "POST")).toBe(false);
    expect(neverReached(new DOMException("client left", "AbortError"), "POST")).toBe(false);
    expect(neverReached(new Error("boom"), "POST")).toBe(false);
    expect(neverReached(undefined, "POST")).toBe(false);
  });
});

describe("sendableAgain", () => {
  test("the first attempt's body reads the original only when pulled, and then marks it used", async () => {
    const request = new Request("http://gateway/api/validations", { method: "POST", body: "a;b\n1;2\n" });
    const first = sendableAgain(request);
    expect(first.untouched()).toBe(true);
    expect(request.body?.locked).toBe(false);
    expect(await new Response(first.request.body).text()).toBe("a;b\n1;2\n");
    expect(first.untouched()).toBe(false);
    expect(first.request.headers).toBe(request.headers);

    const bodiless = new Request("http://gateway/api/files");
    expect(sendableAgain(bodiless).request).toBe(bodiless);
  });
});

describe("a request that certainly never reached its upstream goes to the stable one, outside the budget", () => {
  test("a POST with a streamed body refused by the candidate is served by the monolith, body whole, budget untouched", async () => {
    reset();
    const budget = noRetries();
    const forward = createResilientSend({ send: refusing, budget });
    const attempts: string[][] = [];
    // A real server in front, as the gateway is: the body is the incoming request's own stream.
    const front = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      async fetch(request) {
        const result = await forward({
          request,
          upstream: "validation",
          upstreams,
          unreachedFallback: "monolith",
        });
        attempts.push(...result.attempts.map((a) => [a.upstream, a.kind]));
        return result.response;
      },
    });
    try {
      const body = `code;amount\n${"A;1\n".repeat(50_000)}`;
      const response = await fetch(`${front.url}api/validations`, { method: "POST", body });
      expect(await response.text()).toBe("monolith");
      expect(received).toEqual([body]);
      expect(attempts).toEqual([
        ["validation", "first"],
        ["monolith", "unreached"],
      ]);
      expect(budget.stats()).toMatchObject({ retries: 0, rejected: 0 });
    } finally {
      await front.stop(true);
    }
  });

  test("a buffered body (which fetch takes even when it cannot connect) is sent whole to the monolith", async () => {
    reset();
    const forward = createResilientSend({ send: refusing });
    const body = "a;b\n1;2\n";
    const result = await forward({
      request: new Request("http://gateway/api/validations", { method: "POST", body }),
      upstream: "validation",
      upstreams,
      unreachedFallback: "monolith",
    });
    expect(result.upstream).toBe("monolith");
    expect(received).toEqual([body]);
  });

  test("a body an attempt began to read is never sent again, whatever the error says", async () => {
    reset();
    // An attempt that reads a chunk and then fails as a refused connection would: the code alone is not enough.
    const readsThenFails = createResilientSend({
      send: async (upstream, request, signal) => {
        if (upstream === "monolith") return refusing(upstream, request, signal);
        await request.body?.getReader().read();
        throw Object.assign(new TypeError("Unable to connect"), { code: "ECONNREFUSED" });
      },
    });
    const error = await errorOf(
      readsThenFails({
        request: new Request("http://gateway/api/validations", { method: "POST", body: "a;b\n1;2\n" }),
        upstream: "validation",
        upstreams,
        unreachedFallback: "monolith",
      }),
    );
    expect((error as AppError).status).toBe(502);
    expect(monolith.hits).toHaveLength(0);
  });

  test("a refused GET keeps the budgeted retry (fetch may have replayed it): the monolith's with budget, 502 without", async () => {
    reset();
    const plan = () => ({
      request: new Request("http://gateway/api/files"),
      upstream: "validation",
      upstreams,
      unreachedFallback: "monolith",
    });
    const budget = createRetryBudget();
    const retried = await createResilientSend({ send: refusing, budget })(plan());
    expect(retried.attempts.map((a) => [a.upstream, a.kind])).toEqual([
      ["validation", "first"],
      ["monolith", "retry"],
    ]);
    expect(budget.stats().retries).toBe(1);
    const error = await errorOf(createResilientSend({ send: refusing, budget: noRetries() })(plan()));
    expect((error as AppError).status).toBe(502);
    expect(monolith.hits).toHaveLength(1);
  });

  test("without an unreached fallback (a pin, the write owner) a refused POST stays a 502", async () => {
    reset();
    const forward = createResilientSend({ send: refusing });
    const error = await errorOf(
      forward({
        request: new Request("http://gateway/api/codes", { method: "POST", body: "x" }),
        upstream: "validation",
        upstreams,
      }),
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).status).toBe(502);
    expect(monolith.hits).toHaveLength(0);
  });

  test("a POST reset after it was written may have been processed: never sent again", async () => {
    reset();
    const forward = createResilientSend({ send: resetsAfterReading });
    const error = await errorOf(
      forward({
        request: new Request("http://gateway/api/validations", { method: "POST", body: "a;b\n1;2\n" }),
        upstream: "validation",
        upstreams,
        unreachedFallback: "monolith",
      }),
    );
    expect(resetBytes).toBeGreaterThan(0);
    expect((error as AppError).status).toBe(502);
    expect(monolith.hits).toHaveLength(0);
  });

  test("a GET reset in flight keeps the budgeted retry: retried with budget, a 502 without", async () => {
    reset();
    const withBudget = createResilientSend({ send: resetsAfterReading, budget: createRetryBudget() });
    const plan = () => ({
      request: new Request("http://gateway/api/files"),
      upstream: "validation",
      upstreams,
      unreachedFallback: "monolith",
    });
    const retried = await withBudget(plan());
    expect(retried.attempts.map((a) => [a.upstream, a.kind])).toEqual([
      ["validation", "first"],
      ["monolith", "retry"],
    ]);
    const spent = createResilientSend({ send: resetsAfterReading, budget: noRetries() });
    const error = await errorOf(spent(plan()));
    expect((error as AppError).status).toBe(502);
    expect(monolith.hits).toHaveLength(1);
  });
});

describe("outlier ejection: connection failures in a row open the breaker at once", () => {
  // A sampling window that could never open on its own in these tests: only the streak can.
  const options = { minimumRequests: 1_000_000, windowMs: 3_600_000, halfOpenAfterMs: 3_600_000 };
  const refusedAttempt = () =>
    refusing("validation", new Request("http://gateway/x"), AbortSignal.timeout(5000));

  test("5 refusals in a row open it; the 4th leaves it closed", async () => {
    const breakers = createBreakers(options);
    for (let i = 0; i < 4; i++) await breakers.run("validation", refusedAttempt).catch(() => {});
    expect(breakers.state("validation")).toBe("closed");
    await breakers.run("validation", refusedAttempt).catch(() => {});
    expect(breakers.state("validation")).toBe("open");
    expect(breakers.isOpen("validation")).toBe(true);
  });

  test("any answer, even a 500, breaks the streak; a client abort neither counts nor breaks it; timeouts do not count", async () => {
    const breakers = createBreakers(options);
    const answered = async () => new Response("down", { status: 500 });
    const aborted = async () => {
      throw new DOMException("client left", "AbortError");
    };
    const timedOut = async () => {
      throw new DOMException("deadline", "TimeoutError");
    };
    for (let i = 0; i < 4; i++) await breakers.run("validation", refusedAttempt).catch(() => {});
    await breakers.run("validation", answered);
    for (let i = 0; i < 4; i++) await breakers.run("validation", refusedAttempt).catch(() => {});
    expect(breakers.state("validation")).toBe("closed");
    await breakers.run("validation", aborted).catch(() => {});
    expect(breakers.state("validation")).toBe("closed");
    await breakers.run("validation", refusedAttempt).catch(() => {});
    expect(breakers.state("validation")).toBe("open");

    const slow = createBreakers(options);
    for (let i = 0; i < 10; i++) await slow.run("validation", timedOut).catch(() => {});
    expect(slow.state("validation")).toBe("closed");
  });

  test("the streak is configurable (1: the first refusal ejects)", async () => {
    const breakers = createBreakers({ ...options, consecutiveConnectionFailures: 1 });
    await breakers.run("validation", refusedAttempt).catch(() => {});
    expect(breakers.state("validation")).toBe("open");
  });
});
