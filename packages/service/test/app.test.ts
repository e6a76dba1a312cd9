import { describe, expect, test } from "bun:test";
import { createRoute, z } from "@hono/zod-openapi";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import {
  AppError,
  createApp,
  createLifecycle,
  createRouter,
  errorResponses,
  setupTracing,
} from "../src/index.ts";
import { captureLogger } from "./helpers.ts";

const Body = z.object({ code: z.string().length(5), tariff_cents: z.number().int().positive() });
const postRoute = createRoute({
  method: "post",
  path: "/things",
  request: { body: { content: { "application/json": { schema: Body } }, required: true } },
  responses: { 201: { description: "Created" }, ...errorResponses(400) },
});
const getRoute = createRoute({
  method: "get",
  path: "/things/{id}",
  request: { params: z.object({ id: z.string() }) },
  responses: { 200: { description: "Found" }, ...errorResponses(404) },
});

function build(readiness = {}) {
  const { logger, lines } = captureLogger();
  const exporter = new InMemorySpanExporter();
  const { tracer } = setupTracing({
    serviceName: "test",
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const lifecycle = createLifecycle();
  const app = createApp({ name: "test", version: "0.0.0", logger, tracer, readiness, lifecycle });
  const things = createRouter();
  things.openapi(postRoute, (c) => c.json(c.req.valid("json"), 201));
  things.openapi(getRoute, (c) => {
    const { id } = c.req.valid("param");
    if (id === "boom") throw new Error("secret internal detail");
    throw new AppError("not_found", `Thing ${id} does not exist`);
  });
  app.route("/api", things);
  return { app, lines, exporter, lifecycle };
}

describe("problem+json errors", () => {
  test("400 lists every invalid field with its location", async () => {
    const { app } = build();
    const res = await app.request("/api/things", {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": "req-abc" },
      body: JSON.stringify({ code: "1", tariff_cents: "x" }),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("x-request-id")).toBe("req-abc");
    const body = await res.json();
    expect(body).toMatchObject({
      type: "https://fig.dev/problems/validation",
      status: 400,
      instance: "req-abc",
    });
    expect(body.errors.map((e: { location: string }) => e.location).sort()).toEqual([
      "body.code",
      "body.tariff_cents",
    ]);
  });

  test("malformed JSON is a 400 problem, not a 500", async () => {
    const { app } = build();
    const res = await app.request("/api/things", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    expect(res.status).toBe(400);
    expect((await res.json()).type).toBe("https://fig.dev/problems/validation");
  });

  test("AppError renders its type; unknown route is a 404 problem", async () => {
    const { app } = build();
    const thing = await app.request("/api/things/42");
    expect(thing.status).toBe(404);
    expect((await thing.json()).detail).toBe("Thing 42 does not exist");
    const none = await app.request("/nowhere");
    expect(none.status).toBe(404);
    expect(none.headers.get("content-type")).toBe("application/problem+json");
  });

  test("an unexpected error is a 500 with no internals, logged with the request id", async () => {
    const { app, lines } = build();
    const res = await app.request("/api/things/boom", { headers: { "x-request-id": "req-500" } });
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain("secret internal detail");
    expect(text).not.toContain("at ");
    expect(JSON.parse(text).instance).toBe("req-500");
    const logged = lines.find((l) => l.msg === "unhandled error");
    expect(logged?.request_id).toBe("req-500");
  });
});

describe("request id", () => {
  test("generated when absent, replaced when unsafe or too long", async () => {
    const { app } = build();
    const generated = (await app.request("/health")).headers.get("x-request-id");
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    const unsafe = (await app.request("/health", { headers: { "x-request-id": "a b<script>" } })).headers.get(
      "x-request-id",
    );
    expect(unsafe).not.toBe("a b<script>");
    const long = (await app.request("/health", { headers: { "x-request-id": "a".repeat(200) } })).headers.get(
      "x-request-id",
    );
    expect(long).not.toBe("a".repeat(200));
  });
});

describe("logging, tracing, metrics", () => {
  test("one log line per request with route pattern, status, duration, request and trace ids", async () => {
    const { app, lines } = build();
    await app.request("/api/things/7", { headers: { "x-request-id": "r1" } });
    const line = lines.find((l) => l.msg === "request");
    expect(line).toMatchObject({ method: "GET", route: "/api/things/:id", status: 404, request_id: "r1" });
    expect(typeof line?.duration_ms).toBe("number");
    expect(line?.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  test("one server span per request, named by route, parented by the incoming traceparent", async () => {
    const { app, exporter } = build();
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    await app.request("/api/things/7", { headers: { traceparent: `00-${traceId}-b7ad6b7169203331-01` } });
    const spans = exporter.getFinishedSpans();
    expect(spans).toHaveLength(1);
    expect(spans[0]?.name).toBe("GET /api/things/:id");
    expect(spans[0]?.spanContext().traceId).toBe(traceId);
    expect(spans[0]?.parentSpanContext?.spanId).toBe("b7ad6b7169203331");
  });

  test("/metrics counts by route pattern, not raw path", async () => {
    const { app } = build();
    await app.request("/api/things/1");
    await app.request("/api/things/2");
    const text = await (await app.request("/metrics")).text();
    expect(text).toContain('http_requests_total{method="GET",route="/api/things/:id",status="404"} 2');
    expect(text).toContain("http_request_duration_seconds_bucket");
    expect(text).not.toContain("/api/things/1");
  });
});

describe("health, readiness, docs", () => {
  test("/health is 200; /ready runs every check", async () => {
    const { app } = build({ database: async () => {} });
    expect((await app.request("/health")).status).toBe(200);
    const ready = await app.request("/ready");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", checks: { database: "ok" } });
  });

  test("/ready is a 503 problem naming the failed dependency; a hung check times out", async () => {
    const { app } = build({
      database: async () => {},
      nats: async () => {
        throw new Error("connection refused");
      },
      slow: () => new Promise(() => {}),
    });
    const res = await app.request("/ready");
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.detail).toBe("Dependency not ready: nats, slow");
    expect(body.checks.nats).toContain("connection refused");
    expect(body.checks.database).toBe("ok");
  });

  test("/ready is 503 while draining", async () => {
    const { app, lifecycle } = build();
    lifecycle.draining = true;
    expect((await app.request("/ready")).status).toBe(503);
  });

  test("/openapi.json is OpenAPI 3.1 and /docs serves the Scalar page", async () => {
    const { app } = build();
    const doc = await (await app.request("/openapi.json")).json();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.paths["/api/things"]).toBeDefined();
    const docs = await app.request("/docs");
    expect(docs.status).toBe(200);
    expect(await docs.text()).toContain("/openapi.json");
  });
});
