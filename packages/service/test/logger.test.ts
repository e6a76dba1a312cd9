import { describe, expect, setSystemTime, test } from "bun:test";
import { Writable } from "node:stream";
import { createRoute, z } from "@hono/zod-openapi";
import { createApp, createLogger, createRouter, isoTimeCached } from "../src/index.ts";

/** A destination that keeps what pino-pretty writes, split into lines. */
function captureStream() {
  let text = "";
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, lines: () => text.split("\n").filter((l) => l !== "") };
}

function prettyApp() {
  const { stream, lines } = captureStream();
  const logger = createLogger({ service: "test", pretty: true, colors: false, destination: stream });
  const app = createApp({ name: "test", version: "0.0.0", logger });
  const things = createRouter();
  const route = createRoute({
    method: "get",
    path: "/things/{id}",
    request: { params: z.object({ id: z.string() }) },
    responses: { 200: { description: "Found" } },
  });
  things.openapi(route, (c) => {
    if (c.req.valid("param").id === "boom") throw new Error("kaboom");
    return c.json({ id: c.req.valid("param").id }, 200);
  });
  app.route("/api", things);
  return { app, lines };
}

describe("pretty log (bun run dev)", () => {
  test("one short line per request: method, path, status, ms, request id", async () => {
    const { app, lines } = prettyApp();
    const res = await app.request("/api/things/A1", { headers: { "x-request-id": "req-abc123" } });
    expect(res.status).toBe(200);
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatch(
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: GET \/api\/things\/A1 200 [\d.]+ms req=req-abc123$/,
    );
  });

  test("an error keeps its detail: route, trace id, the error and its stack", async () => {
    const { app, lines } = prettyApp();
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await app.request("/api/things/boom", {
      headers: { "x-request-id": "req-boom", traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(res.status).toBe(500);
    const text = lines().join("\n");
    expect(text).toContain(`ERROR: unhandled error req=req-boom trace=${traceId}`);
    expect(text).toContain('"message": "kaboom"');
    expect(text).toMatch(/Error: kaboom\n\s+at /);
    expect(text).toMatch(
      /ERROR: GET \/api\/things\/boom 500 [\d.]+ms \(request failed; route \/api\/things\/:id\) req=req-boom trace=\w{32}$/m,
    );
  });

  test("other lines keep their fields on the same line", () => {
    const { stream, lines } = captureStream();
    const logger = createLogger({ service: "test", pretty: true, colors: false, destination: stream });
    logger.info({ port: 8082, status: "migrated" }, "listening");
    expect(lines()).toEqual([expect.stringMatching(/INFO: listening status="migrated" \{"port":8082\}$/)]);
  });
});

describe("JSON lines' time", () => {
  test("pino's ISO time, made once per millisecond: the same text within one, the new time in the next", () => {
    try {
      setSystemTime(new Date("2026-12-07T10:00:00.123Z"));
      expect(isoTimeCached()).toBe(',"time":"2026-12-07T10:00:00.123Z"');
      expect(isoTimeCached()).toBe(',"time":"2026-12-07T10:00:00.123Z"');
      setSystemTime(new Date("2026-12-07T10:00:00.124Z"));
      expect(isoTimeCached()).toBe(',"time":"2026-12-07T10:00:00.124Z"');
      const lines: Record<string, unknown>[] = [];
      const logger = createLogger({
        service: "t",
        destination: { write: (chunk: string) => void lines.push(JSON.parse(chunk)) },
      });
      logger.info({ a: 1 }, "hello");
      expect(lines).toEqual([
        { level: 30, time: "2026-12-07T10:00:00.124Z", service: "t", a: 1, msg: "hello" },
      ]);
    } finally {
      setSystemTime();
    }
  });
});
