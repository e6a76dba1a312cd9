import { afterAll, describe, expect, test } from "bun:test";
import { type BreakerStateChange, BrokenCircuitError, createBreakers } from "../../src/policies/breaker.ts";
import { createResilientSend } from "../../src/policies/resilient-send.ts";
import { closedPortUrl, sendTo, startUpstream, until } from "./upstream.ts";

const monolith = startUpstream(() => new Response("monolith"));
const candidate = startUpstream(() => new Response("candidate", { status: 500 }));
afterAll(async () => {
  await monolith.stop();
  await candidate.stop();
});
const send = sendTo({ monolith: monolith.url, validation: candidate.url });
const get = (path = "/api/files") => new Request(`http://gateway${path}`);
// A window far longer than any test run, so a slow machine cannot age requests out mid-test; a short
// cool-down, waited for by polling the breaker's own state.
const options = { minimumRequests: 20, windowMs: 3_600_000, halfOpenAfterMs: 100 };

async function drive(breakers: ReturnType<typeof createBreakers>, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const response = await breakers.run("validation", () =>
      send("validation", get(), new AbortController().signal),
    );
    statuses.push(response.status);
    await response.body?.cancel();
  }
  return statuses;
}

describe("circuit breaker per upstream", () => {
  test("call (run without a closure, the proxy's attempt) counts, opens, refuses and closes as run does", async () => {
    candidate.handle(() => new Response("down", { status: 500 }));
    const breakers = createBreakers(options);
    const viaCall = async () => {
      const response = await breakers.call(
        "validation",
        send,
        "validation",
        get(),
        new AbortController().signal,
      );
      await response.body?.cancel();
      return response.status;
    };
    for (let i = 0; i < 19; i++) expect(await viaCall()).toBe(500);
    expect(breakers.state("validation")).toBe("closed");
    expect(await viaCall()).toBe(500);
    expect(breakers.state("validation")).toBe("open");
    const hits = candidate.hits.length;
    await expect(viaCall()).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(candidate.hits.length).toBe(hits);
    // Half-open after the cool-down: call's probe goes through cockatiel and closes the breaker.
    candidate.handle(() => new Response("candidate"));
    await until(() => !breakers.isOpen("validation"), "the cool-down to pass");
    expect(await viaCall()).toBe(200);
    expect(breakers.state("validation")).toBe("closed");
    expect(candidate.hits.length).toBe(hits + 1);
  });

  test("opens at 50 % failures over 20 requests, falls back, half-opens and closes", async () => {
    candidate.handle(() => new Response("down", { status: 500 }));
    const breakers = createBreakers(options);
    const changes: BreakerStateChange[] = [];
    breakers.onStateChange((change) => changes.push(change));

    // 19 failures are below the minimum volume: still closed.
    await drive(breakers, 19);
    expect(breakers.state("validation")).toBe("closed");
    expect(breakers.isOpen("validation")).toBe(false);
    // The 20th opens it.
    await drive(breakers, 1);
    expect(breakers.state("validation")).toBe("open");
    expect(breakers.isOpen("validation")).toBe(true);
    expect(changes.map((c) => [c.upstream, c.from, c.to])).toEqual([["validation", "closed", "open"]]);

    // Open: refused without calling the upstream; the resilient send takes the GET to the monolith.
    const hits = candidate.hits.length;
    await expect(
      breakers.run("validation", () => send("validation", get(), AbortSignal.timeout(5000))),
    ).rejects.toBeInstanceOf(BrokenCircuitError);
    const forward = createResilientSend({ send, breakers });
    const fellBack = await forward({
      request: get(),
      upstream: "validation",
      upstreams: ["monolith", "validation"],
    });
    expect(fellBack.upstream).toBe("monolith");
    expect(await fellBack.response.text()).toBe("monolith");
    expect(candidate.hits.length).toBe(hits);

    // After the cool-down one probe goes through; it fails, so the breaker opens again.
    await until(() => !breakers.isOpen("validation"), "the cool-down to pass");
    await drive(breakers, 1);
    expect(breakers.state("validation")).toBe("open");
    expect(candidate.hits.length).toBe(hits + 1);

    // Next cool-down: the upstream has recovered; the probe succeeds and the breaker closes.
    candidate.handle(() => new Response("candidate"));
    await until(() => !breakers.isOpen("validation"), "the second cool-down to pass");
    expect(await drive(breakers, 1)).toEqual([200]);
    expect(breakers.state("validation")).toBe("closed");
    expect(changes.map((c) => c.to)).toEqual(["open", "half-open", "open", "half-open", "closed"]);
    expect(breakers.states()).toEqual({ validation: "closed", monolith: "closed" });
  });

  test("while the half-open probe is in flight, other requests are refused at once (not parked)", async () => {
    candidate.handle(() => new Response("down", { status: 500 }));
    const breakers = createBreakers(options);
    await drive(breakers, 20);
    expect(breakers.state("validation")).toBe("open");
    await until(() => !breakers.isOpen("validation"), "the cool-down to pass");

    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    candidate.handle(async () => {
      await gate;
      return new Response("candidate");
    });
    const probe = drive(breakers, 1);
    await until(() => breakers.state("validation") === "half-open", "the probe to start");
    expect(breakers.isOpen("validation")).toBe(true);
    await expect(breakers.run("validation", async () => new Response("never"))).rejects.toBeInstanceOf(
      BrokenCircuitError,
    );
    release();
    expect(await probe).toEqual([200]);
    expect(breakers.state("validation")).toBe("closed");
  });

  test("exactly 50 % opens it; 45 % does not", async () => {
    const ok = async () => new Response("ok");
    const failing = async () => new Response("down", { status: 503 });
    const half = createBreakers(options);
    for (let i = 0; i < 10; i++) await half.run("validation", ok);
    for (let i = 0; i < 10; i++) await half.run("validation", failing);
    expect(half.state("validation")).toBe("open");

    const less = createBreakers(options);
    for (let i = 0; i < 11; i++) await less.run("validation", ok);
    for (let i = 0; i < 9; i++) await less.run("validation", failing);
    expect(less.state("validation")).toBe("closed");
  });

  test("connection errors count as failures; client aborts do not", async () => {
    const refused = sendTo({ validation: await closedPortUrl() });
    const breakers = createBreakers(options);
    for (let i = 0; i < 20; i++) {
      await breakers
        .run("validation", () => refused("validation", get(), AbortSignal.timeout(5000)))
        .catch(() => {});
    }
    expect(breakers.state("validation")).toBe("open");

    const aborted = createBreakers(options);
    for (let i = 0; i < 30; i++) {
      await aborted
        .run("validation", async () => {
          throw new DOMException("the client went away", "AbortError");
        })
        .catch(() => {});
    }
    expect(aborted.state("validation")).toBe("closed");
  });

  test("while closed, each attempt's own answer or error reaches the caller, also one settling after the breaker opened", async () => {
    const breakers = createBreakers(options);
    const error = new TypeError("connection reset");
    // The error itself (not a copy or cockatiel's), and a 5xx answer as it came.
    expect(await breakers.run("validation", async () => Promise.reject(error)).catch((e) => e)).toBe(error);
    const answer = new Response("down", { status: 503 });
    expect(await breakers.run("validation", async () => answer)).toBe(answer);
    // Three attempts start while closed and settle after 20 failures have opened the breaker.
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const late = [
      breakers.run("validation", () => held.then(() => new Response("late ok"))),
      breakers.run("validation", () => held.then(() => new Response("late down", { status: 500 }))),
      breakers.run("validation", () => held.then(() => Promise.reject(error))).catch((e) => e),
    ];
    for (let i = 0; i < 18; i++)
      await breakers.run("validation", async () => new Response(null, { status: 502 }));
    expect(breakers.state("validation")).toBe("open");
    release();
    const [ok, down, failed] = await Promise.all(late);
    expect((ok as Response).status).toBe(200);
    expect((down as Response).status).toBe(500);
    expect(failed).toBe(error);
    // A late success does not close it; a new attempt is refused without being made.
    expect(breakers.state("validation")).toBe("open");
    let called = false;
    const refused = await breakers
      .run("validation", async () => {
        called = true;
        return new Response("ok");
      })
      .catch((e) => e);
    expect(refused).toBeInstanceOf(BrokenCircuitError);
    expect(called).toBe(false);
  });

  test("breakers are per upstream: one open breaker leaves the others closed", async () => {
    const breakers = createBreakers(options);
    for (let i = 0; i < 20; i++)
      await breakers.run("validation", async () => new Response(null, { status: 502 }));
    await breakers.run("monolith", async () => new Response("ok"));
    expect(breakers.states()).toEqual({ validation: "open", monolith: "closed" });
    expect(breakers.isOpen("monolith")).toBe(false);
    expect(breakers.isOpen("never-seen")).toBe(false);
  });

  test("a route without the breaker policy bypasses the breakers (and is not counted)", async () => {
    candidate.handle(() => new Response("down", { status: 500 }));
    const breakers = createBreakers(options);
    const forward = createResilientSend({ send, breakers });
    for (let i = 0; i < 25; i++) {
      const { response } = await forward({
        request: get(),
        upstream: "validation",
        upstreams: ["validation"],
        breaker: false,
      });
      expect(response.status).toBe(500);
    }
    expect(breakers.states()).toEqual({});
  });
});
