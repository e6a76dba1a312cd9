import { expect, test } from "bun:test";
import { createApp, idOnlyTracer, setupTracing, traceparentOf } from "../src/index.ts";
import { captureLogger } from "./helpers.ts";

// setupTracing without an exporter or a processor: no SDK spans, but the ids still log and propagate.
function build() {
  const { logger, lines } = captureLogger();
  const { tracer } = setupTracing({ serviceName: "ids" });
  const app = createApp({ name: "ids", version: "0", logger, tracer });
  app.get("/api/echo", (c) => c.text(traceparentOf(c.get("span")) ?? "none"));
  return { app, lines };
}

test("without an exporter, a request still gets a fresh trace id in its log line and its traceparent", async () => {
  const { app, lines } = build();
  const first = await (await app.request("/api/echo")).text();
  const second = await (await app.request("/api/echo")).text();
  expect(first).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  expect(second.split("-")[1]).not.toBe(first.split("-")[1]);
  const logged = lines.filter((l) => l.msg === "request").map((l) => l.trace_id);
  expect(logged).toEqual([first.split("-")[1], second.split("-")[1]]);
});

test("without an exporter, an incoming traceparent is continued: same trace id and flags, a new span id", async () => {
  const { app, lines } = build();
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  for (const flags of ["01", "00"]) {
    const incoming = `00-${traceId}-b7ad6b7169203331-${flags}`;
    const sent = await (await app.request("/api/echo", { headers: { traceparent: incoming } })).text();
    const [, id, span, flagsOut] = sent.split("-");
    expect(id).toBe(traceId);
    expect(span).not.toBe("b7ad6b7169203331");
    expect(span).toMatch(/^[0-9a-f]{16}$/);
    expect(flagsOut).toBe(flags);
  }
  expect(lines.filter((l) => l.msg === "request").map((l) => l.trace_id)).toEqual([traceId, traceId]);
});

test("idOnlyTracer spans record nothing", () => {
  const span = idOnlyTracer().startSpan("x");
  expect(span.isRecording()).toBe(false);
  expect(span.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
});
