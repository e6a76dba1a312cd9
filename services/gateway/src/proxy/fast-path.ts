import {
  AppError,
  type HttpMetrics,
  jsonString,
  type Logger,
  problemResponse,
  type RawLineLevel,
  rawLineWriter,
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

/**
 * One proxied request outside Hono: what the proxy handler and the admission step read of a Hono `Context`
 * (`req.method/path/url/raw/header()`, `get`, `header`, `body`, `env`), and the request's logger (`get
 * ("logger")` is this object: bindings kept as two fields, no pino child per request). Its own `req`.
 */
class Exchange {
  readonly req = this;
  readonly method: string;
  readonly url: string;
  /** Headers set with `header()` (RateLimit-*, on a refusal): the problem answer carries them. */
  private headersSet: Record<string, string> | undefined;
  private bindings: Record<string, unknown> | undefined;

  constructor(
    readonly raw: Request,
    readonly env: unknown,
    readonly path: string,
    readonly requestId: string,
    readonly span: Span,
    readonly traceId: string | undefined,
    private readonly tracer: Tracer,
    private readonly base: Logger,
  ) {
    this.method = raw.method;
    this.url = raw.url;
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
        return this.span;
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
   * path then: it keeps the first place of a repeated name and serialises `err`).
   */
  accessProps(route: string, status: number, seconds: number): string | undefined {
    let props = `,"request_id":${jsonString(this.requestId)}`;
    if (this.traceId) props += `,"trace_id":${jsonString(this.traceId)}`;
    const bindings = this.bindings;
    if (bindings)
      for (const name in bindings) {
        const value = bindings[name];
        if (value === undefined || typeof value === "function") continue;
        if (ACCESS_NAMES.has(name)) return undefined;
        if (typeof value === "string") props += `,${jsonString(name)}:${jsonString(value)}`;
        else if (typeof value === "number")
          props += `,${jsonString(name)}:${Number.isFinite(value) ? value : null}`;
        else if (typeof value === "boolean") props += `,${jsonString(name)}:${value}`;
        else return undefined;
      }
    return `${props},"method":${jsonString(this.method)},"path":${jsonString(this.path)},"route":${jsonString(route)},"status":${status},"duration_ms":${Math.round(seconds * 10000) / 10}`;
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
  const patterns = prefixes.map((prefix) => ({ under: `${prefix}/`, pattern: `${prefix}/*` }));
  // The access line written from a template of its fixed fields when the logger lets it (plain JSON lines).
  const rawLine = rawLineWriter(logger);

  /** One access line at `level`: the template when it applies, else pino with the line's object. */
  function accessLine(
    x: Exchange,
    level: RawLineLevel,
    route: string,
    status: number,
    seconds: number,
    message: string,
  ) {
    const props = rawLine && x.accessProps(route, status, seconds);
    if (props !== undefined && rawLine) rawLine(level, props, message);
    else logger[level](x.access(route, status, seconds), message);
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
    let pattern: string | undefined;
    for (const p of patterns)
      if (path.startsWith(p.under)) {
        pattern = p.pattern;
        break;
      }
    if (pattern === undefined) return undefined;
    return serve(request, env, path, pattern);
  };

  async function serve(request: Request, env: unknown, path: string, pattern: string): Promise<Response> {
    const started = performance.now();
    const given = request.headers.get("x-request-id");
    const requestId =
      given && given.length <= REQUEST_ID_LENGTH && !REQUEST_ID_REFUSED.test(given)
        ? given
        : crypto.randomUUID();
    const span = startServerSpan(tracer, request, request.method);
    const x = new Exchange(request, env, path, requestId, span, traceIdOf(span), tracer, logger);
    let response: Response;
    try {
      response = await proxy(x as unknown as Context);
    } catch (error) {
      response = problemOf(x, error);
    }
    const status = response.status;
    const seconds = (performance.now() - started) / 1000;
    // A span nothing records (no exporter: ids only) is not given a name and attributes it would drop.
    if (span.isRecording()) {
      span.updateName(`${x.method} ${pattern}`);
      span.setAttributes({ "http.route": pattern, "http.response.status_code": status });
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
    httpMetrics.observe(x.method, pattern, status, seconds);
    // The access line as observeRequests writes it (a level below which nothing is built).
    if (status >= 500 && status !== 503) accessLine(x, "error", pattern, status, seconds, "request failed");
    else if (status === 503) accessLine(x, "warn", pattern, status, seconds, "request refused: not ready");
    else if (logger.isLevelEnabled("info")) accessLine(x, "info", pattern, status, seconds, "request");
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
