import { expect, test } from "bun:test";
import {
  createApp,
  idOnlyTracer,
  isIdOnlyTracer,
  serverTraceparent,
  setupTracing,
  spanOfTraceparent,
  startServerSpan,
  traceIdOf,
  traceparentOf,
} from "../src/index.ts";
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

test("serverTraceparent gives what traceparentOf(startServerSpan(idOnlyTracer)) gives, as one string", () => {
  const tracer = idOnlyTracer();
  expect(isIdOnlyTracer(tracer)).toBe(true);
  expect(isIdOnlyTracer(setupTracing({ serviceName: "ids", spanProcessors: [] }).tracer)).toBe(true);
  const traceId = "0af7651916cd43dd8448eb211c80319c";
  const parents = [
    null,
    `00-${traceId}-b7ad6b7169203331-01`,
    `00-${traceId}-b7ad6b7169203331-00`,
    `00-${traceId}-b7ad6b7169203331-03`, // other flags: only the sampled bit goes on
    `01-${traceId}-b7ad6b7169203331-01-future`, // a later version may have more fields
    `00-${"0".repeat(32)}-b7ad6b7169203331-01`, // invalid: all-zero trace id
    `00-${traceId}-${"0".repeat(16)}-01`, // invalid: all-zero parent id
    `ff-${traceId}-b7ad6b7169203331-01`, // invalid: version ff
    `00-${traceId}-b7ad6b7169203331-01-extra`, // invalid: version 00 with more fields
    `00-${traceId.toUpperCase()}-b7ad6b7169203331-01`, // invalid: upper case
    "garbage",
  ];
  for (const parent of parents) {
    const request = new Request("http://x.test/", parent ? { headers: { traceparent: parent } } : {});
    const viaSpan = traceparentOf(startServerSpan(tracer, request, "GET")) as string;
    const direct = serverTraceparent(parent);
    expect(direct).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    // The same trace id (the parent's) and flags; the span ids are each call's own.
    const continued = viaSpan.slice(3, 35) === direct.slice(3, 35);
    expect(continued).toBe(viaSpan.slice(3, 35) === traceId);
    expect(direct.slice(-2)).toBe(viaSpan.slice(-2));
    expect(direct.slice(36, 52)).not.toBe(viaSpan.slice(36, 52));
    // Its span: the same ids, so traceparentOf and traceIdOf read it back.
    const span = spanOfTraceparent(direct);
    expect(traceparentOf(span)).toBe(direct);
    expect(traceIdOf(span)).toBe(direct.slice(3, 35));
    expect(span.isRecording()).toBe(false);
  }
  // Fresh ids do not repeat.
  const fresh = Array.from({ length: 2000 }, () => serverTraceparent(null));
  expect(new Set(fresh.map((t) => t.slice(3, 35))).size).toBe(fresh.length);
  expect(new Set(fresh.map((t) => t.slice(36, 52))).size).toBe(fresh.length);
});
