import { afterAll, expect, test } from "bun:test";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { createApp, setupTracing, tracedFetch } from "../src/index.ts";
import { captureLogger } from "./helpers.ts";

const seen: (string | null)[] = [];
const downstream = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(request) {
    seen.push(request.headers.get("traceparent"));
    return new Response("ok");
  },
});
afterAll(() => downstream.stop(true));

test("calls made through tracedFetch carry the request's trace to the callee", async () => {
  const exporter = new InMemorySpanExporter();
  const { tracer } = setupTracing({
    serviceName: "caller",
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  const app = createApp({ name: "caller", version: "0", logger: captureLogger().logger, tracer });
  app.get("/call", async (c) =>
    c.text(await (await tracedFetch(c, `http://127.0.0.1:${downstream.port}/`)).text()),
  );

  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const res = await app.request("/call", { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
  expect(await res.text()).toBe("ok");

  expect(seen).toHaveLength(1);
  const [sent] = seen;
  expect(sent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
  const spans = exporter.getFinishedSpans();
  const server = spans.find((s) => s.name === "GET /call" && s.kind === SpanKind.SERVER);
  const client = spans.find((s) => s.name === "GET" && s.kind === SpanKind.CLIENT);
  // Both spans exist and carry real ids, so the comparisons below cannot pass on two undefineds.
  if (!server || !client) throw new Error(`missing span: ${spans.map((s) => s.name).join(", ")}`);
  const spanId = /^[0-9a-f]{16}$/;
  expect(server.spanContext().traceId).toBe(traceId);
  expect(client.spanContext().traceId).toBe(traceId);
  expect(server.spanContext().spanId).toMatch(spanId);
  expect(client.spanContext().spanId).toMatch(spanId);
  expect(server.spanContext().spanId).not.toBe(client.spanContext().spanId);
  // The server span continues the caller's span; the client span is the server span's child.
  expect(server.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
  expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
  // The callee's parent is the client span, so the trace reads caller → call → callee.
  expect(sent?.split("-")[2]).toBe(client.spanContext().spanId);
});
