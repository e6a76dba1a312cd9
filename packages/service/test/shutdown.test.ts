import { expect, test } from "bun:test";
import { createLifecycle, serveApp } from "../src/index.ts";
import { captureLogger } from "./helpers.ts";

test("shutdown finishes the in-flight request, then runs onShutdown, then exits 0", async () => {
  const { logger } = captureLogger();
  const lifecycle = createLifecycle();
  const order: string[] = [];
  let exitCode: number | undefined;
  // The handler tells when the request has arrived, and answers only when the test lets it.
  const arrived = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const { port, shutdown } = serveApp({
    port: 0,
    hostname: "127.0.0.1",
    logger,
    lifecycle,
    // Long enough never to cut this request off, however slow the machine.
    shutdownTimeoutMs: 60_000,
    fetch: async () => {
      arrived.resolve();
      await release.promise;
      order.push("request finished");
      return new Response("slow ok");
    },
    onShutdown: async () => {
      order.push("onShutdown");
    },
    exit: (code) => {
      exitCode = code;
    },
  });
  const inflight = fetch(`http://127.0.0.1:${port}/`);
  await arrived.promise;
  const stopped = shutdown("SIGTERM");
  expect(lifecycle.draining).toBe(true);
  // While the request is in flight, shutdown waits: nothing has run yet.
  await Promise.resolve();
  expect(order).toEqual([]);
  expect(exitCode).toBeUndefined();
  release.resolve();
  const res = await inflight;
  expect(await res.text()).toBe("slow ok");
  await stopped;
  expect(order).toEqual(["request finished", "onShutdown"]);
  expect(exitCode).toBe(0);
  await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
});

test("shutdown is bounded: a hung request is cut off after the timeout", async () => {
  const { logger, lines } = captureLogger();
  let exitCode: number | undefined;
  let onShutdownRan = false;
  const arrived = Promise.withResolvers<void>();
  const { port, shutdown } = serveApp({
    port: 0,
    hostname: "127.0.0.1",
    logger,
    lifecycle: createLifecycle(),
    shutdownTimeoutMs: 200,
    // Never answers.
    fetch: () => {
      arrived.resolve();
      return new Promise<Response>(() => {});
    },
    onShutdown: async () => {
      onShutdownRan = true;
    },
    exit: (code) => {
      exitCode = code;
    },
  });
  const hung = fetch(`http://127.0.0.1:${port}/`).then(
    (res) => `answered ${res.status}`,
    (error: Error) => `cut off: ${error.message}`,
  );
  await arrived.promise;
  // The request is in the server's hands before the signal: this shutdown has something to cut off.
  await shutdown("SIGTERM");
  // The client saw its connection closed, with no response.
  expect(await hung).toStartWith("cut off");
  expect(lines.map((l) => l.msg)).toContain("in-flight requests did not finish in time; closing them");
  expect(onShutdownRan).toBe(true);
  expect(exitCode).toBe(0);
});
