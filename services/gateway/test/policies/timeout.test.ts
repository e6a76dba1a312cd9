import { afterAll, describe, expect, test } from "bun:test";
import { AppError, problemResponse } from "@fig/service";
import { Hono } from "hono";
import { createResilientSend } from "../../src/policies/resilient-send.ts";
import { isAbortError, isTimeoutError, startDeadline, timeoutSignal } from "../../src/policies/timeout.ts";
import { sendTo, startUpstream, until } from "./upstream.ts";

/** An upstream that never answers: it waits for its request to be aborted. */
const hang = (request: Request) =>
  new Promise<Response>((resolve) => {
    request.signal.addEventListener("abort", () => resolve(new Response("too late")));
  });

const upstream = startUpstream(hang);
afterAll(() => upstream.stop());

describe("timeoutSignal", () => {
  test("a timeout aborts the upstream request, and the upstream sees the abort", async () => {
    const seen = upstream.aborted.length;
    const error = await fetch(`${upstream.url}/slow`, { signal: timeoutSignal(50) }).catch((e: unknown) => e);
    expect(isTimeoutError(error)).toBe(true);
    await upstream.abortedCount(seen + 1);
    expect(upstream.aborted.at(-1)?.path).toBe("/slow");
  });

  test("the client's own signal aborts the upstream too, as an abort rather than a timeout", async () => {
    const seen = upstream.aborted.length;
    const client = new AbortController();
    const pending = fetch(`${upstream.url}/left`, { signal: timeoutSignal(60_000, client.signal) }).catch(
      (e: unknown) => e,
    );
    await until(() => upstream.hits.some((hit) => hit.path === "/left"), "the request to reach the upstream");
    client.abort();
    const error = await pending;
    expect(isAbortError(error)).toBe(true);
    expect(isTimeoutError(error)).toBe(false);
    await upstream.abortedCount(seen + 1);
  });
});

describe("route deadline through the resilient send", () => {
  const forward = createResilientSend({ send: sendTo({ monolith: upstream.url, validation: upstream.url }) });

  test("a timeout is a 504 gateway_timeout problem, is not retried, and the upstream sees the abort", async () => {
    const hitsBefore = upstream.hits.length;
    const abortedBefore = upstream.aborted.length;
    const error = await forward({
      request: new Request("http://gateway/api/validations/1"),
      upstream: "validation",
      upstreams: ["monolith", "validation"],
      timeoutMs: 50,
      maxRetries: 1,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    const problem = error as AppError;
    expect(problem.status).toBe(504);
    expect(problem.type).toBe("gateway_timeout");
    expect(problem.headers?.["fig-served-by"]).toBe("validation");
    await upstream.abortedCount(abortedBefore + 1);
    // The deadline spans every attempt (as Envoy's route timeout): nothing is left for a retry.
    expect(upstream.hits.length - hitsBefore).toBe(1);

    const app = new Hono();
    app.get("/", () => {
      throw problem;
    });
    app.onError((e, c) => problemResponse(c, e as AppError));
    const rendered = await app.request("/");
    expect(rendered.status).toBe(504);
    expect(rendered.headers.get("content-type")).toBe("application/problem+json");
    expect(await rendered.json()).toMatchObject({
      type: "https://fig.dev/problems/gateway_timeout",
      status: 504,
    });
  });

  test("the deadline bounds the wait for headers, not the length of a streamed body", async () => {
    const stream = startUpstream(() => {
      let step = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          step++;
          if (step === 1) controller.enqueue(new TextEncoder().encode("first,"));
          else if (step === 2) {
            // Past the 50 ms deadline whatever the machine's speed: the elapsed time is only a lower bound.
            await Bun.sleep(200);
            controller.enqueue(new TextEncoder().encode("second"));
          } else controller.close();
        },
      });
      return new Response(body);
    });
    try {
      const forwardStream = createResilientSend({ send: sendTo({ monolith: stream.url }) });
      const { response } = await forwardStream({
        request: new Request("http://gateway/api/events"),
        upstream: "monolith",
        upstreams: ["monolith"],
        timeoutMs: 50,
      });
      expect(await response.text()).toBe("first,second");
      expect(stream.aborted).toHaveLength(0);
    } finally {
      await stream.stop();
    }
  });

  test("startDeadline says whether the deadline itself fired", async () => {
    const deadline = startDeadline(10);
    await new Promise((resolve) => deadline.signal.addEventListener("abort", resolve));
    expect(deadline.expired).toBe(true);
    const client = new AbortController();
    const other = startDeadline(60_000, client.signal);
    client.abort();
    expect(other.signal.aborted).toBe(true);
    expect(other.expired).toBe(false);
    other.stop();
  });

  test("deadlines share one timer: each fires at its time, never early; a stopped one never fires", async () => {
    const started = Date.now();
    const stopped = startDeadline(20);
    const deadlines = [40, 25, 60, 25].map((ms) => ({ ms, deadline: startDeadline(ms), firedAfter: -1 }));
    for (const d of deadlines)
      d.deadline.signal.addEventListener("abort", () => {
        d.firedAfter = Date.now() - started;
      });
    stopped.stop();
    await Promise.all(
      deadlines.map(
        ({ deadline }) => new Promise((resolve) => deadline.signal.addEventListener("abort", resolve)),
      ),
    );
    for (const { ms, deadline, firedAfter } of deadlines) {
      expect(firedAfter).toBeGreaterThanOrEqual(ms);
      expect(deadline.expired).toBe(true);
      expect(isTimeoutError(deadline.signal.reason)).toBe(true);
    }
    // Fired in due order (25, 25, 40, 60), whatever the order they were started in.
    const order = [...deadlines].sort((a, b) => a.firedAfter - b.firedAfter).map((d) => d.ms);
    expect(order).toEqual([25, 25, 40, 60]);
    expect(stopped.signal.aborted).toBe(false);
    expect(stopped.expired).toBe(false);
  });
});
