import { afterAll, describe, expect, test } from "bun:test";
import { createLogger } from "@fig/service";
import { bearer, startEchoUpstream, testGateway } from "./harness.ts";

type LogLine = Record<string, unknown> & { level: number; msg: string };
const ERROR = 50;

/** A debug-level gateway logger whose JSON lines land in `lines`; `next(match)` resolves on the first match. */
function captureLogs() {
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  const logger = createLogger({
    service: "gateway-test",
    level: "debug",
    destination: {
      write(chunk: string) {
        const line = JSON.parse(chunk) as LogLine;
        lines.push(line);
        for (const w of waiters.splice(0)) {
          if (w.match(line)) w.resolve(line);
          else waiters.push(w);
        }
      },
    },
  });
  const next = (match: (line: LogLine) => boolean) =>
    new Promise<LogLine>((resolve) => {
      const seen = lines.find(match);
      if (seen) resolve(seen);
      else waiters.push({ match, resolve });
    });
  return { logger, lines, next };
}

async function validationGateway(urls: { monolith: string; referenceData: string; validation: string }) {
  const logs = captureLogs();
  const g = testGateway({ urls, logger: logs.logger });
  await g.store.change(
    "validation",
    { kind: "weights", weights: { monolith: 0, validation: 100 } },
    { who: "t", why: null },
  );
  return { ...g, logs };
}

describe("client disconnect mid-response", () => {
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let upstreamAborted: () => void = () => {};
  const aborted = new Promise<void>((resolve) => {
    upstreamAborted = resolve;
  });
  const slow = startEchoUpstream("validation", (request) => {
    request.signal.addEventListener("abort", () => upstreamAborted(), { once: true });
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode("first chunk\n"));
        await held; // the rest only after the client has gone
        try {
          controller.enqueue(encoder.encode("second chunk\n"));
          controller.close();
        } catch {
          // cancelled: the gateway let go of the stream when its client left
        }
      },
    });
    return new Response(stream, { headers: { "content-type": "text/plain" } });
  });
  const monolith = startEchoUpstream("monolith");
  afterAll(() => {
    release();
    slow.stop();
    monolith.stop();
  });

  test("is logged at debug with route and upstream, never at error, and the upstream sees its request aborted", async () => {
    const g = await validationGateway({
      monolith: monolith.url,
      referenceData: monolith.url,
      validation: slow.url,
    });
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: g.app.fetch });
    try {
      const client = new AbortController();
      const res = await fetch(`http://127.0.0.1:${server.port}/api/validations/run-1/events`, {
        headers: { ...(await bearer({ sub: "alice" })), "x-request-id": "req-disconnect-1" },
        signal: client.signal,
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("fig-served-by")).toBe("validation");
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe("first chunk\n");

      client.abort();
      await aborted;
      const line = await g.logs.next((l) => l.msg === "client disconnected mid-response");
      expect(line).toMatchObject({
        level: 20,
        request_id: "req-disconnect-1",
        route_id: "validation",
        upstream: "validation",
      });

      // Let the upstream try to finish its stream after the cancel, then let one more request through: anything
      // the disconnect would log at error has had the gateway's whole path to surface.
      release();
      const after = await fetch(`http://127.0.0.1:${server.port}/api/legacy`, {
        headers: { ...(await bearer({ sub: "alice" })), "x-request-id": "req-after-1" },
      });
      expect(after.status).toBe(200);
      await after.arrayBuffer();
      await g.logs.next((l) => l.request_id === "req-after-1" && l.msg === "request");

      const errors = g.logs.lines.filter((l) => l.level >= ERROR);
      expect(errors).toEqual([]);
      // The disconnect is no upstream failure: nothing counted as a proxy error.
      const metrics = await (await g.app.request("/metrics")).text();
      expect(metrics).not.toMatch(/^gateway_upstream_errors_total\{[^}]*route="validation"/m);
    } finally {
      server.stop(true);
    }
  });
});

describe("access log", () => {
  const validation = startEchoUpstream("validation");
  const monolith = startEchoUpstream("monolith");
  afterAll(() => {
    validation.stop();
    monolith.stop();
  });

  test("the line of a proxied request carries request_id, route_id, upstream, status and duration", async () => {
    const g = await validationGateway({
      monolith: monolith.url,
      referenceData: monolith.url,
      validation: validation.url,
    });
    const res = await g.app.request("/api/files?page=1", {
      headers: { ...(await bearer({ sub: "alice" })), "x-request-id": "req-access-1" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ upstream: "validation" });

    const lines = g.logs.lines.filter((l) => l.request_id === "req-access-1" && l.msg === "request");
    expect(lines).toHaveLength(1);
    const line = lines[0] as LogLine;
    expect(line).toMatchObject({
      level: 30,
      service: "gateway-test",
      request_id: "req-access-1",
      route_id: "validation",
      upstream: "validation",
      method: "GET",
      path: "/api/files",
      status: 200,
    });
    expect(typeof line.duration_ms).toBe("number");
    expect(line.duration_ms as number).toBeGreaterThanOrEqual(0);
  });
});
