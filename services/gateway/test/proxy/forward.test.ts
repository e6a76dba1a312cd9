import { afterAll, describe, expect, test } from "bun:test";
import { createApp } from "@fig/service";
import { bearer, silent, startEchoUpstream, testGateway } from "../harness.ts";

const monolith = startEchoUpstream("monolith");
let releaseSecond: () => void = () => {};
const secondEvent = new Promise<void>((resolve) => {
  releaseSecond = resolve;
});
const sse = startEchoUpstream("validation", async (request) => {
  const url = new URL(request.url);
  if (!url.pathname.endsWith("/events")) return Response.json({ upstream: "validation" });
  const encoder = new TextEncoder();
  const stream = new ReadableStream({
    async start(controller) {
      controller.enqueue(encoder.encode('event: progress\ndata: {"rows":1}\n\n'));
      await secondEvent; // the client must see the first event while the upstream still holds the second
      controller.enqueue(encoder.encode('event: completed\ndata: {"rows":2}\n\n'));
      controller.close();
    },
  });
  return new Response(stream, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
});
const urls = { monolith: monolith.url, referenceData: monolith.url, validation: sse.url };
afterAll(() => {
  monolith.stop();
  sse.stop();
});

describe("headers", () => {
  test("x-fig-* are stripped, identity headers forwarded, X-Forwarded-* set, Fig-Served-By on the answer", async () => {
    const g = testGateway({ urls, clientIp: () => "198.51.100.7" });
    const headers = {
      ...(await bearer({ sub: "alice" })),
      "x-request-id": "req-gw-1",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      "x-fig-tenant": "other",
      "x-fig-user": "root",
      "x-fig-route": "reference-data", // a viewer's pin: read, ignored, stripped
      "x-forwarded-for": "203.0.113.9",
      connection: "keep-alive, x-drop-me",
      "x-drop-me": "1",
      host: "gateway.example",
    };
    const res = await g.app.request("/api/legacy?x=1", { headers });
    expect(res.status).toBe(200);
    expect(res.headers.get("fig-served-by")).toBe("monolith");
    expect(res.headers.get("x-request-id")).toBe("req-gw-1");
    expect(await res.json()).toMatchObject({ upstream: "monolith", path: "/api/legacy?x=1" });
    const got = monolith.received.at(-1)?.headers ?? {};
    expect(Object.keys(got).filter((h) => h.startsWith("x-fig-"))).toEqual([]);
    expect(got.authorization).toBe(headers.authorization);
    expect(got["x-request-id"]).toBe("req-gw-1");
    // The gateway's own span continues the caller's trace.
    expect(got.traceparent).toStartWith("00-0af7651916cd43dd8448eb211c80319c-");
    expect(got["x-forwarded-for"]).toBe("203.0.113.9, 198.51.100.7");
    expect(got["x-forwarded-proto"]).toBe("http");
    expect(got["x-forwarded-host"]).toBe("gateway.example");
    expect(got["x-drop-me"]).toBeUndefined();
  });

  test("the default route's 404 for an unknown /api path is the monolith's; outside /api the gateway's", async () => {
    // A monolith on the service kit, as the real one is: its own problem 404 for a path it has no route for.
    const legacy = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: createApp({ name: "monolith", version: "0", logger: silent }).fetch,
    });
    try {
      const g = testGateway({ urls: { ...urls, monolith: `http://127.0.0.1:${legacy.port}` } });
      const unknown = await g.app.request("/api/nothing/here", {
        headers: { ...(await bearer()), "x-request-id": "req-unknown-1" },
      });
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get("fig-served-by")).toBe("monolith");
      expect(unknown.headers.get("content-type")).toContain("application/problem+json");
      // The monolith's own words, passed through unchanged (its detail names the path it was asked).
      expect(await unknown.json()).toEqual({
        type: expect.stringMatching(/not_found$/),
        title: "Resource not found",
        status: 404,
        detail: "No route for GET /api/nothing/here",
        instance: "req-unknown-1",
      });

      const none = await g.app.request("/nothing/here");
      expect(none.status).toBe(404);
      expect(none.headers.get("fig-served-by")).toBeNull();
      expect(none.headers.get("content-type")).toContain("application/problem+json");
      expect(await none.json()).toMatchObject({ status: 404, title: "Resource not found" });
    } finally {
      legacy.stop(true);
    }
  });
});

describe("streaming", () => {
  test("a 16 MiB request body from a ReadableStream reaches the upstream whole", async () => {
    const g = testGateway({ urls });
    const chunk = new Uint8Array(1024 * 1024).fill(65);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 16) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    const res = await g.app.request("/api/legacy/upload", {
      method: "POST",
      headers: { ...(await bearer({ roles: ["editor"] })), "content-type": "application/octet-stream" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(200);
    expect((await res.json()).bodyBytes).toBe(16 * 1024 * 1024);
  });

  test("Server-Sent Events pass through unbuffered", async () => {
    const g = testGateway({ urls });
    await g.store.change(
      "validation",
      { kind: "weights", weights: { monolith: 0, validation: 100 } },
      { who: "t", why: null },
    );
    const res = await g.app.request("/api/validations/v1/events", { headers: await bearer() });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    expect(res.headers.get("fig-served-by")).toBe("validation");
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = "";
    while (!text.includes("\n\n")) text += decoder.decode((await reader.read()).value);
    expect(text).toBe('event: progress\ndata: {"rows":1}\n\n');
    releaseSecond();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value);
    }
    expect(text).toEndWith('event: completed\ndata: {"rows":2}\n\n');
  });
});

describe("metrics", () => {
  test("/metrics has requests and latency per route and upstream", async () => {
    const g = testGateway({ urls });
    await (await g.app.request("/api/codes", { headers: await bearer() })).arrayBuffer();
    // Whole lines: a substring "} 1" would also match a count of 10 or 12.
    const lines = (await (await g.app.request("/metrics")).text()).split("\n");
    expect(lines).toContain(
      'gateway_upstream_requests_total{route="reference-data",upstream="monolith",method="GET",status="200"} 1',
    );
    expect(lines).toContain(
      'gateway_upstream_duration_seconds_count{route="reference-data",upstream="monolith"} 1',
    );
  });
});
