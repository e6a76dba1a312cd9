import { expect, test } from "bun:test";
import { createLifecycle, serveApp } from "../src/index.ts";
import { captureLogger } from "./helpers.ts";

test("shutdown finishes the in-flight request, then runs onShutdown, then exits 0", async () => {
  const { logger } = captureLogger();
  const lifecycle = createLifecycle();
  const order: string[] = [];
  let exitCode: number | undefined;
  const { port, shutdown } = serveApp({
    port: 0,
    hostname: "127.0.0.1",
    logger,
    lifecycle,
    fetch: async () => {
      await Bun.sleep(300);
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
  await Bun.sleep(50);
  const stopped = shutdown("SIGTERM");
  expect(lifecycle.draining).toBe(true);
  const res = await inflight;
  expect(await res.text()).toBe("slow ok");
  await stopped;
  expect(order).toEqual(["request finished", "onShutdown"]);
  expect(exitCode).toBe(0);
  expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow();
});

test("shutdown is bounded: a hung request is cut off after the timeout", async () => {
  const { logger } = captureLogger();
  let exitCode: number | undefined;
  const { port, shutdown } = serveApp({
    port: 0,
    hostname: "127.0.0.1",
    logger,
    lifecycle: createLifecycle(),
    shutdownTimeoutMs: 200,
    fetch: () => new Promise<Response>(() => {}),
    exit: (code) => {
      exitCode = code;
    },
  });
  fetch(`http://127.0.0.1:${port}/`).catch(() => {});
  await Bun.sleep(50);
  const started = performance.now();
  await shutdown("SIGTERM");
  expect(performance.now() - started).toBeLessThan(2000);
  expect(exitCode).toBe(0);
});
