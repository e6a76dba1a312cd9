import {
  type Context as OtelContext,
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  TraceFlags,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import { parseTraceParent, W3CTraceContextPropagator } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from "@opentelemetry/sdk-trace-base";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import type { Context } from "hono";

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the only propagation format Fig speaks.
const propagator = new W3CTraceContextPropagator();
propagation.setGlobalPropagator(propagator);

const headersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};
const headersSetter: TextMapSetter<Headers> = { set: (carrier, key, value) => carrier.set(key, value) };

export type TracingOptions = {
  serviceName: string;
  /** OTLP/HTTP base URL; spans are exported only when it is set. */
  otlpEndpoint?: string | undefined;
  /** Extra processors (tests use an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
};

/**
 * Sets up tracing once per process. We use `BasicTracerProvider` rather than `NodeSDK`: on Bun, NodeSDK 0.301
 * accepted a span processor but delivered no spans; the provider does (see packages/service/test/tracing.test.ts).
 *
 * @example
 * const tracing = setupTracing({ serviceName: "reference-data", otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT });
 * const app = createApp({ ..., tracer: tracing.tracer });
 */
export function setupTracing({ serviceName, otlpEndpoint, spanProcessors = [] }: TracingOptions) {
  const processors = [...spanProcessors];
  if (!otlpEndpoint && processors.length === 0) {
    // Nothing would ever read a recorded span: ids only (see `idOnlyTracer`), no SDK span per request.
    const tracer = idOnlyTracer();
    trace.setGlobalTracerProvider({ getTracer: () => tracer });
    return { tracer, shutdown: async () => {} };
  }
  if (otlpEndpoint) {
    const url = `${otlpEndpoint.replace(/\/$/, "")}/v1/traces`;
    // Loaded only when export is configured: the exporter costs ~150 ms of start-up.
    const { OTLPTraceExporter } =
      require("@opentelemetry/exporter-trace-otlp-http") as typeof import("@opentelemetry/exporter-trace-otlp-http");
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })));
  }
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    spanProcessors: processors,
  });
  trace.setGlobalTracerProvider(provider);
  return { tracer: provider.getTracer(serviceName), shutdown: () => provider.shutdown() };
}

// Random ids from a pooled buffer of Web Crypto bytes, ≈ 10× cheaper than the SDK's generator: the pool is
// turned into hex once per refill (Uint8Array.prototype.toHex, ES2026, where the runtime has it) and each id is
// a slice of that one flat string; adding up two-character pieces per id builds a rope of 16 (≈ 1 KB of garbage
// per trace id), and a hex string per id needs a view of the pool each time.
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const pool = new Uint8Array(4096);
let poolAt = pool.length;
let poolHex = "";
type WithToHex = Uint8Array & { toHex?: () => string };
function randomHex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    crypto.getRandomValues(pool);
    poolAt = 0;
    poolHex = (pool as WithToHex).toHex?.() ?? Array.from(pool, (byte) => HEX[byte]).join("");
  }
  const hex = poolHex.slice(2 * poolAt, 2 * (poolAt + bytes));
  poolAt += bytes;
  return hex;
}

/**
 * The tracer of a process that exports no spans: every span is non-recording, but carries a real context
 * (the caller's trace id when a `traceparent` came in, else a fresh one; a fresh span id; the parent's flags,
 * else sampled, as the SDK's default sampler would say), so logs keep their `trace_id` and `traceparent`
 * still propagates to upstreams, without the SDK building, timing and ending a span per request.
 */
// The tracers `idOnlyTracer` made: a caller on a hot path may then skip the span object (`serverTraceparent`).
const idOnlyTracers = new WeakSet<Tracer>();

/** Whether `tracer` records nothing (made by `idOnlyTracer`): a span of it is only its ids. */
export function isIdOnlyTracer(tracer: Tracer): boolean {
  return idOnlyTracers.has(tracer);
}

/**
 * The `traceparent` of the server span an id-only tracer would start for a request whose `traceparent` field is
 * `parent` (null without one), as `traceparentOf(startServerSpan(tracer, request, …))` gives it: the caller's
 * trace id and sampled flag when `parent` is valid (W3C Trace Context, as the propagator parses it), else a fresh
 * trace id, sampled; a fresh span id. One string, no context, span or options object: the trace id is
 * `traceparent.slice(3, 35)`, the span id `traceparent.slice(36, 52)` (see `spanOfTraceparent`).
 *
 * @example
 * const traceparent = serverTraceparent(request.headers.get("traceparent"));
 */
export function serverTraceparent(parent: string | null): string {
  const context = parent ? parseTraceParent(parent) : null;
  if (context === null) return `00-${randomHex(16)}-${randomHex(8)}-01`;
  return `00-${context.traceId}-${randomHex(8)}-0${context.traceFlags & 1}`;
}

/** The non-recording span of a `serverTraceparent` value (what `c.get("span")` is on a Hono request). */
export function spanOfTraceparent(traceparent: string): Span {
  return trace.wrapSpanContext({
    traceId: traceparent.slice(3, 35),
    spanId: traceparent.slice(36, 52),
    traceFlags: traceparent.endsWith("1") ? TraceFlags.SAMPLED : TraceFlags.NONE,
  });
}

export function idOnlyTracer(): Tracer {
  const startSpan = (_name: string, _options?: SpanOptions, context: OtelContext = otelContext.active()) => {
    const parent = trace.getSpanContext(context);
    const valid = parent !== undefined && trace.isSpanContextValid(parent);
    return trace.wrapSpanContext({
      traceId: valid ? parent.traceId : randomHex(16),
      spanId: randomHex(8),
      traceFlags: valid ? parent.traceFlags : TraceFlags.SAMPLED,
      ...(valid && parent.traceState ? { traceState: parent.traceState } : {}),
    });
  };
  const tracer = {
    startSpan,
    startActiveSpan(name: string, ...rest: unknown[]) {
      const fn = rest.pop() as (span: Span) => unknown;
      const [options, context = otelContext.active()] = rest as [SpanOptions?, OtelContext?];
      const span = startSpan(name, options, context);
      return otelContext.with(trace.setSpan(context, span), fn, undefined, span);
    },
  } as Tracer;
  idOnlyTracers.add(tracer);
  return tracer;
}

/** Starts the server span of a request, parented by the caller's `traceparent` when there is one. */
export function startServerSpan(tracer: Tracer, request: Request, name: string): Span {
  const parent = propagator.extract(ROOT_CONTEXT, request.headers, headersGetter);
  return tracer.startSpan(
    name,
    { kind: SpanKind.SERVER, attributes: { "http.request.method": request.method } },
    parent,
  );
}

/** The trace id of a span, or undefined for a non-recording (no-op) span. */
export function traceIdOf(span: Span): string | undefined {
  const ctx = span.spanContext();
  return trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
}

/**
 * `fetch` for calls made while handling a request: a client span, child of the request's server span,
 * and the W3C `traceparent` header injected so the callee continues the trace.
 *
 * @example
 * const res = await tracedFetch(c, `${config.REFERENCE_DATA_URL}/api/rules`);
 */
export async function tracedFetch(
  c: Context,
  input: string | URL,
  init: RequestInit = {},
): Promise<Response> {
  const parentSpan = c.get("span");
  const parent = parentSpan ? trace.setSpan(ROOT_CONTEXT, parentSpan) : otelContext.active();
  const method = init.method ?? "GET";
  const tracer = c.get("tracer") ?? trace.getTracer("fig-http-client");
  const span = tracer.startSpan(
    `${method}`,
    { kind: SpanKind.CLIENT, attributes: { "url.full": String(input) } },
    parent,
  );
  const headers = new Headers(init.headers);
  propagator.inject(trace.setSpan(parent, span), headers, headersSetter);
  try {
    const res = await fetch(input, { ...init, headers });
    span.setAttribute("http.response.status_code", res.status);
    if (res.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    return res;
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw error;
  } finally {
    span.end();
  }
}

/** The W3C `traceparent` of a span, to carry the trace onto events; undefined for a no-op span. */
export function traceparentOf(span: Span | undefined): string | undefined {
  if (!span) return undefined;
  const ctx = span.spanContext();
  if (!trace.isSpanContextValid(ctx)) return undefined;
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 1).toString(16).padStart(2, "0")}`;
}
