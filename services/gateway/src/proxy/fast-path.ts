import {
  AppError,
  type HttpMetrics,
  isIdOnlyTracer,
  jsonString,
  type Logger,
  problemResponse,
  type RawLineLevel,
  rawLineWriter,
  serverTraceparent,
  spanOfTraceparent,
  startServerSpan,
  traceIdOf,
} from "@fig/service";
import { type Span, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import type { Context } from "hono";

/** The proxy's Hono handler (proxy/forward.ts): it reads the context through the members `Exchange` has. */
type ProxyHandler = (c: Context) => Promise<Response>;

export type FastPathDeps = {
  proxy: ProxyHandler;
  logger: Logger;
  tracer: Tracer;
  /** The app's HTTP metrics (createApp's `httpMetrics`): a request answered here is counted as in the chain. */
  httpMetrics: HttpMetrics;
  /** Path prefixes proxied under `<prefix>/*` (`/api`, the identity roots). */
  prefixes: readonly string[];
};

/** A proxied prefix: what a path starts with, its route pattern (`/api/*`) and that pattern as JSON. */
type Pattern = { under: string; pattern: string; json: string };

// hono/request-id's rule (createApp: limitLength 128): a client's id is kept when short and of these characters.
const REQUEST_ID_LENGTH = 128;
const REQUEST_ID_REFUSED = /[^\w\-=]/;
/** The access line's names: a binding with one of them takes pino's path (see `accessProps`). */
const ACCESS_NAMES = new Set([
  "request_id",
  "trace_id",
  "method",
  "path",
  "route",
  "status",
  "duration_ms",
  "err",
]);

// Text JSON.stringify leaves as it is: printable ASCII but the quote and the backslash.
const PLAIN_JSON_TEXT = /^[ !#-[\]-~]*$/;
/** The usual methods as JSON string literals, made once. */
const METHOD_JSON = new Map(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"].map((m) => [m, `"${m}"`]));
/** A JSON string literal for `value`, as `jsonString` gives it, without JSON.stringify for plain text. */
const quoted = (value: string): string => (PLAIN_JSON_TEXT.test(value) ? `"${value}"` : jsonString(value));

/**
 * The bindings' fields as JSON (`,"route_id":"…","upstream":"…"`), or undefined when pino must write them (see
 * `accessProps`). The proxy's own pair, a route and an upstream from the route table, is made once and kept.
 */
function bindingsProps(bindings: Record<string, unknown>): string | undefined {
  let count = 0;
  for (const _ in bindings) count++;
  const routeId = bindings.route_id;
  const upstream = bindings.upstream;
  if (count === 2 && typeof routeId === "string" && typeof upstream === "string") {
    const known = routeUpstreamProps.get(routeId)?.get(upstream);
    if (known !== undefined) return known;
  }
  let props = "";
  for (const name in bindings) {
    const value = bindings[name];
    if (value === undefined || typeof value === "function") continue;
    if (ACCESS_NAMES.has(name)) return undefined;
    if (typeof value === "string") props += `,${quoted(name)}:${quoted(value)}`;
    else if (typeof value === "number") props += `,${quoted(name)}:${Number.isFinite(value) ? value : null}`;
    else if (typeof value === "boolean") props += `,${quoted(name)}:${value}`;
    else return undefined;
  }
  if (
    count === 2 &&
    typeof routeId === "string" &&
    typeof upstream === "string" &&
    keptPairs < MAX_KEPT_PAIRS
  ) {
    let byUpstream = routeUpstreamProps.get(routeId);
    if (byUpstream === undefined) {
      byUpstream = new Map();
      routeUpstreamProps.set(routeId, byUpstream);
    }
    byUpstream.set(upstream, props);
    keptPairs++;
  }
  return props;
}
// Route ids × upstream names are the route table's: a few dozen pairs; the bound is for anything else.
const routeUpstreamProps = new Map<string, Map<string, string>>();
const MAX_KEPT_PAIRS = 1024;
let keptPairs = 0;

/**
 * One proxied request outside Hono: what the proxy handler and the admission step read of a Hono `Context`
 * (`req.method/path/url/raw/header()`, `get`, `header`, `body`, `env`), and the request's logger (`get
 * ("logger")` is this object: bindings kept as two fields, no pino child per request). Its own `req`.
 */
class Exchange {
  readonly req = this;
  readonly method: string;
  readonly url: string;
  /** performance.now() when the request came in. */
  started = 0;
  /** The proxied prefix it came under. */
  route: Pattern | undefined;
  /** Headers set with `header()` (RateLimit-*, on a refusal): the problem answer carries them. */
  private headersSet: Record<string, string> | undefined;
  private bindings: Record<string, unknown> | undefined;

  constructor(
    readonly raw: Request,
    readonly env: unknown,
    readonly path: string,
    readonly requestId: string,
    /** The server span; undefined with an id-only tracer until asked for (`get("span")`): `traceparent` is it. */
    private span: Span | undefined,
    /** The server span's `traceparent` when the tracer is id-only (serverTraceparent), else undefined. */
    readonly traceparent: string | undefined,
    readonly traceId: string | undefined,
    private readonly tracer: Tracer,
    private readonly base: Logger,
  ) {
    this.method = raw.method;
    this.url = raw.url;
  }

  /** The span serve started (a recording tracer's), not one made from the traceparent for a reader. */
  get serverSpan(): Span | undefined {
    return this.traceparent === undefined ? this.span : undefined;
  }

  header(name: string, value?: string): string | undefined {
    // As Hono's: `c.req.header(name)` reads the request, `c.header(name, value)` sets an answer's field.
    if (value === undefined) return this.raw.headers.get(name) ?? undefined;
    this.headersSet ??= {};
    this.headersSet[name.toLowerCase()] = value;
    return undefined;
  }

  get(key: string): unknown {
    switch (key) {
      case "requestId":
        return this.requestId;
      case "span":
        // Made only for a reader that wants the object (forward.ts reads "traceparent" first).
        if (this.span === undefined && this.traceparent !== undefined)
          this.span = spanOfTraceparent(this.traceparent);
        return this.span;
      case "traceparent":
        return this.traceparent;
      case "tracer":
        return this.tracer;
      case "logger":
        return this;
      default:
        return undefined;
    }
  }

  /** `c.body` as problemResponse calls it: the fields set with `header()` first, then its own. */
  body(data: string, status: number, headers: Record<string, string>): Response {
    return new Response(data, {
      status,
      headers: { ...this.headersSet, "x-request-id": this.requestId, ...headers },
    });
  }

  // ─── the request's logger (pino's API, as much as the proxy uses) ───
  setBindings(bindings: Record<string, unknown>): void {
    if (this.bindings === undefined) this.bindings = bindings;
    else this.bindings = { ...this.bindings, ...bindings };
  }
  isLevelEnabled(level: string): boolean {
    return this.base.isLevelEnabled(level);
  }
  /** The fields of every line of this request: as the chain's child logger (request_id, trace_id, bindings). */
  fields(object: Record<string, unknown>): Record<string, unknown> {
    const fields: Record<string, unknown> = { request_id: this.requestId };
    if (this.traceId) fields.trace_id = this.traceId;
    const bindings = this.bindings;
    if (bindings) for (const name in bindings) fields[name] = bindings[name];
    for (const name in object) fields[name] = object[name];
    return fields;
  }
  /** The access line: the request's fields and the line's own, one object (what pino serialises). */
  access(route: string, status: number, seconds: number): Record<string, unknown> {
    const fields = this.fields({});
    fields.method = this.method;
    fields.path = this.path;
    fields.route = route;
    fields.status = status;
    fields.duration_ms = Math.round(seconds * 10000) / 10;
    return fields;
  }
  /**
   * The access line's fields already as JSON (`,"request_id":…`), in `access()`'s order and with pino's value
   * rules; undefined when a binding is not a plain value or reuses one of the line's own names or `err` (pino's
   * path then: it keeps the first place of a repeated name and serialises `err`). One template with the values
   * quoted in place (the request id and the trace id are of safe characters by construction): adding the
   * fields one by one and stringifying each made ≈ 0.4 KB of string pieces per request.
   */
  accessProps(routeJson: string, status: number, seconds: number): string | undefined {
    const bindings = this.bindings === undefined ? "" : bindingsProps(this.bindings);
    if (bindings === undefined) return undefined;
    const method = METHOD_JSON.get(this.method) ?? quoted(this.method);
    const ms = Math.round(seconds * 10000) / 10;
    return this.traceId
      ? `,"request_id":"${this.requestId}","trace_id":"${this.traceId}"${bindings},"method":${method},"path":${quoted(this.path)},"route":${routeJson},"status":${status},"duration_ms":${ms}`
      : `,"request_id":"${this.requestId}"${bindings},"method":${method},"path":${quoted(this.path)},"route":${routeJson},"status":${status},"duration_ms":${ms}`;
  }
  debug(object: Record<string, unknown>, message: string): void {
    if (this.base.isLevelEnabled("debug")) this.base.debug(this.fields(object), message);
  }
  info(object: Record<string, unknown>, message: string): void {
    if (this.base.isLevelEnabled("info")) this.base.info(this.fields(object), message);
  }
  warn(object: Record<string, unknown>, message: string): void {
    this.base.warn(this.fields(object), message);
  }
  error(object: Record<string, unknown>, message: string): void {
    this.base.error(this.fields(object), message);
  }
}

/**
 * The proxied requests' path around Hono: for a request under one of `prefixes` (any method but HEAD, whose
 * GET-without-body answer Hono builds), the proxy handler runs with what createApp's middleware would have
 * given it (request id, server span, the request's logger) and the same accounting after it (HTTP metrics by
 * route pattern, span name and status, one access line), without Hono's routing, context and middleware chain
 * or a pino child per request. Refusals and failures answer the same problem+json (with the RateLimit-* fields
 * and `x-request-id`) as the chain's onError. Everything else (/_fig, the console, docs, /openapi.json, /health,
 * a path with percent-escapes, which Hono decodes) returns undefined: the caller hands it to Hono.
 * Web-standard APIs only.
 *
 * @example
 * const fast = createFastPath({ proxy, logger, tracer, httpMetrics, prefixes: ["/api", "/oauth"] });
 * app.fetch = (request, env, ctx) => fast(request, env) ?? honoFetch(request, env, ctx);
 */
export function createFastPath({ proxy, logger, tracer, httpMetrics, prefixes }: FastPathDeps) {
  // A tracer that records nothing (no OTLP endpoint): the span is only its ids, kept as one traceparent string.
  const idsOnly = isIdOnlyTracer(tracer);
  const patterns: Pattern[] = prefixes.map((prefix) => ({
    under: `${prefix}/`,
    pattern: `${prefix}/*`,
    json: jsonString(`${prefix}/*`),
  }));
  // The access line written from a template of its fixed fields when the logger lets it (plain JSON lines).
  const rawLine = rawLineWriter(logger);

  /** One access line at `level`: the template when it applies, else pino with the line's object. */
  function accessLine(
    x: Exchange,
    level: RawLineLevel,
    route: Pattern,
    status: number,
    seconds: number,
    message: string,
  ) {
    const props = rawLine && x.accessProps(route.json, status, seconds);
    if (props !== undefined && rawLine) rawLine(level, props, message);
    else logger[level](x.access(route.pattern, status, seconds), message);
  }

  return function fastPath(request: Request, env: unknown): Promise<Response> | undefined {
    const method = request.method;
    if (method === "HEAD") return undefined;
    const url = request.url;
    const start = url.indexOf("/", url.indexOf(":") + 3);
    let end = url.indexOf("?", start);
    if (end === -1) end = url.length;
    const path = url.slice(start, end);
    if (path.includes("%")) return undefined;
    for (const route of patterns) if (path.startsWith(route.under)) return serve(request, env, path, route);
    return undefined;
  };

  function serve(request: Request, env: unknown, path: string, route: Pattern): Promise<Response> {
    const started = performance.now();
    const given = request.headers.get("x-request-id");
    const requestId =
      given && given.length <= REQUEST_ID_LENGTH && !REQUEST_ID_REFUSED.test(given)
        ? given
        : crypto.randomUUID();
    let span: Span | undefined;
    let traceparent: string | undefined;
    let traceId: string | undefined;
    if (idsOnly) {
      traceparent = serverTraceparent(request.headers.get("traceparent"));
      traceId = traceparent.slice(3, 35);
    } else {
      span = startServerSpan(tracer, request, request.method);
      traceId = traceIdOf(span);
    }
    const x = new Exchange(request, env, path, requestId, span, traceparent, traceId, tracer, logger);
    x.started = started;
    x.route = route;
    let answer: Promise<Response>;
    try {
      answer = proxy(x as unknown as Context);
    } catch (error) {
      answer = Promise.reject(error);
    }
    return settle(x, answer);
  }

  /**
   * The proxy's answer (or its problem) accounted for: span, metrics, access line. Only the exchange lives
   * across the await (JSC keeps an async function's values used after an await in a scope object).
   */
  async function settle(x: Exchange, answer: Promise<Response>): Promise<Response> {
    let response: Response;
    try {
      response = await answer;
    } catch (error) {
      response = problemOf(x, error);
    }
    const status = response.status;
    const seconds = (performance.now() - x.started) / 1000;
    const route = x.route as Pattern;
    const span = x.serverSpan;
    // A span nothing records (no exporter: ids only) is not given a name and attributes it would drop.
    if (span?.isRecording()) {
      span.updateName(`${x.method} ${route.pattern}`);
      span.setAttributes({ "http.route": route.pattern, "http.response.status_code": status });
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span?.end();
    httpMetrics.observe(x.method, route.pattern, status, seconds);
    // The access line as observeRequests writes it (a level below which nothing is built).
    if (status >= 500 && status !== 503) accessLine(x, "error", route, status, seconds, "request failed");
    else if (status === 503) accessLine(x, "warn", route, status, seconds, "request refused: not ready");
    else if (logger.isLevelEnabled("info")) accessLine(x, "info", route, status, seconds, "request");
    return response;
  }

  /** The chain's onError for what the proxy throws: its problem, else 500 `internal` (logged). */
  function problemOf(x: Exchange, error: unknown): Response {
    if (error instanceof AppError) return problemResponse(x as unknown as Context, error);
    x.error({ err: error }, "unhandled error");
    return problemResponse(
      x as unknown as Context,
      new AppError("internal", "An unexpected error occurred; quote the instance id when reporting it."),
    );
  }
}
