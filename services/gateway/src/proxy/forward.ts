import { hasAnyRole, type TokenVerifier } from "@fig/auth";
import { AppError, traceparentOf } from "@fig/service";
import type { Context } from "hono";
import { type Admitted, createAdmission } from "../policies/admission.ts";
import type { Breakers } from "../policies/breaker.ts";
import type { RateLimiter } from "../policies/rate-limit.ts";
import type { ForwardPlan, ForwardResult } from "../policies/resilient-send.ts";
import { isAbortError } from "../policies/timeout.ts";
import type { UpstreamRequest } from "../policies/types.ts";
import type { RouteDefinition, RouteTable } from "../routes.ts";
import type { LiveRoute, RouteStateStore } from "../state/types.ts";
import { clientResponse, rewriteForwardedHeaders } from "./headers.ts";
import { createRouteMatcher } from "./match.ts";
import { bucketOf, pickByWeight } from "./pick.ts";
import type { WriteHolds } from "./write-hold.ts";

/** What the proxy reports; prom-client stays behind this (see metrics.ts). */
export type ProxyMetrics = {
  observe(route: string, upstream: string, method: string, status: number, seconds: number): void;
  error(route: string, upstream: string, kind: string): void;
  divert(route: string, from: string, to: string, reason: string): void;
  rateLimited(route: string): void;
};

/** Mirrors a share of GETs to a candidate (never awaited, never changes the client's answer). */
export type Mirror = (
  route: RouteDefinition,
  request: UpstreamRequest,
  primary: Response,
  upstream: string,
) => void;

export type ProxyDeps = {
  table: RouteTable;
  store: RouteStateStore;
  verifier: TokenVerifier;
  limiter: RateLimiter;
  metrics: ProxyMetrics;
  /** The route's resilience policies around `send` (timeout, retries + budget, breaker, read fallback). */
  forward: (plan: ForwardPlan) => Promise<ForwardResult>;
  breakers?: Breakers;
  mirror?: Mirror;
  /** The client's address (the runtime knows it: Bun's server.requestIP); rate limits key on it without a token. */
  clientIp: (c: Context) => string | undefined;
  /** Holds a route's writes while its write owner moves (see write-hold.ts). */
  writeHolds?: WriteHolds;
};

/** A request admitted to its route, on its way to an upstream: what each step of the handler reads. */
export type ProxyRequest = Admitted<RouteDefinition>;

/** The live state an upstream is chosen by; a route never written to KV serves its first upstream. */
type LiveChoice = Pick<LiveRoute, "weights" | "state" | "writeOwner">;

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const PIN_HEADER = "x-fig-route";
const PIN_ROLES = ["admin", "gate"] as const;

/** Whether the weights choose the upstream: the route is active, and the request is not a write to its owner. */
function byWeights(route: RouteDefinition, live: LiveChoice, method: string): boolean {
  return live.state !== "inactive" && (SAFE.has(method) || route.writes !== "owner");
}

/**
 * The upstream a request goes to before the resilience policies run: an inactive route's first upstream, a
 * write's owner, else the consumer's sticky bucket in the weights.
 */
export function chooseUpstream(
  { c, scope: route, consumer }: Pick<ProxyRequest, "c" | "scope" | "consumer">,
  order: readonly string[],
  live: LiveChoice,
): string {
  if (byWeights(route, live, c.req.method))
    return pickByWeight(order, live.weights, bucketOf(consumer, route.id));
  return live.state === "inactive" ? (order[0] as string) : live.writeOwner;
}

/**
 * The gateway's request path for everything under /api: route match → admission (identity, rate limit, auth) →
 * write hold → upstream choice (pin, state, write owner, sticky weights, breaker) → resilient forward →
 * streamed response with `Fig-Served-By` and RateLimit-* headers. Web-standard APIs only; the fetch of one
 * attempt is proxy/send.ts.
 */
export function createProxyHandler(deps: ProxyDeps) {
  const match = createRouteMatcher(deps.table);
  const orders = new Map<string, string[]>(
    [deps.table.defaultRoute, ...deps.table.routes].map((r) => [r.id, r.upstreams.map((u) => u.name)]),
  );
  const admit = createAdmission({
    verifier: deps.verifier,
    limiter: deps.limiter,
    clientIp: deps.clientIp,
    onRateLimited: (routeId) => deps.metrics.rateLimited(routeId),
  });

  return function proxy(c: Context): Promise<Response> {
    const method = c.req.method;
    const route = match(c.req.path, method) ?? deps.table.defaultRoute;
    // A write to the owner waits out a hold first (held), then reads the live state: released, it goes to the new owner.
    const holds = !SAFE.has(method) && route.writes === "owner" ? deps.writeHolds : undefined;
    let admitted: ProxyRequest | Promise<ProxyRequest>;
    try {
      admitted = admit(c, route);
    } catch (error) {
      return Promise.reject(error);
    }
    // Admitted without a promise (a token verified moments ago: nearly every request) and nothing to wait for:
    // straight to the upstream, no async frame here.
    if (holds === undefined && !(admitted instanceof Promise)) return proxyTo(admitted);
    return admittedThen(admitted, holds);
  };

  /** A request whose admission is a promise (a signature to check) or that must wait out a write hold. */
  async function admittedThen(
    admitted: ProxyRequest | Promise<ProxyRequest>,
    holds: WriteHolds | undefined,
  ): Promise<Response> {
    const request = await admitted;
    if (!holds) return proxyTo(request);
    const { c, scope: route } = request;
    try {
      await holds.pass(route.id, c.req.raw.signal);
    } catch (error) {
      // The problem answer carries the RateLimit-* fields as every answer does (see proxyTo).
      withLimitHeaders(request);
      throw error;
    }
    holds.begin(route.id);
    try {
      return await proxyTo(request);
    } finally {
      holds.end(route.id);
    }
  }

  /**
   * The problem answer (onError, from the context) carries the RateLimit-* fields as every answer does; a
   * proxied answer gets them on its own Response (proxyTo), so they are set on the context only for a problem.
   */
  function withLimitHeaders({ c, limitHeaders }: ProxyRequest): void {
    for (const name in limitHeaders) c.header(name, limitHeaders[name]);
  }

  /** The upstream's answer to an admitted request; a problem it throws carries the RateLimit-* fields. */
  async function proxyTo(request: ProxyRequest): Promise<Response> {
    try {
      const { c, scope: route } = request;
      const method = c.req.method;
      // The route's upstreams in declared order; the first is the stable one (the monolith).
      const order = orders.get(route.id) as string[];
      const live: LiveChoice = deps.store.get(route.id) ?? {
        weights: { [order[0] as string]: 100 },
        state: "active",
        writeOwner: order[0] as string,
      };
      const pinned = pinOf(request, order);
      const upstream = pinned ?? divertFromOpenBreaker(request, order, chooseUpstream(request, order, live));
      // Chosen by weights (not a pin, not the write owner): may go to the stable upstream if never reached.
      const movable = pinned === undefined && byWeights(route, live, method);

      const incoming = c.req.raw;
      const sent = upstreamRequestOf(request);
      const started = performance.now();
      let result: ForwardResult;
      try {
        result = await deps.forward({
          request: sent,
          upstream,
          upstreams: order,
          weights: live.weights,
          clientSignal: incoming.signal,
          timeoutMs: route.policies.timeoutMs,
          maxRetries: route.policies.retries,
          readFallback: route.policies.readFallback,
          pinned: pinned !== undefined,
          breaker: route.policies.breaker,
          unreachedFallback: movable && upstream !== order[0] ? order[0] : undefined,
        });
      } catch (error) {
        return failed(request, upstream, error, started);
      }
      report(request, upstream, result, started);

      // The mirror clones the primary's answer before its headers are rewritten for the client.
      if (deps.mirror && method === "GET" && pinned === undefined)
        deps.mirror(route, sent, result.response, result.upstream);
      // A returned Response does not carry headers set with c.header() earlier in the chain: set them on it.
      // limitHeaders is this request's own object: the answer's extra fields go on it rather than on a copy.
      const headers = request.limitHeaders;
      headers["fig-served-by"] = result.upstream;
      headers["x-request-id"] = c.get("requestId");
      return clientResponse(result.response, headers);
    } catch (error) {
      withLimitHeaders(request);
      throw error;
    }
  }

  /** `x-fig-route: <upstream>` from a token with role admin or gate: that upstream, whatever the weights. */
  function pinOf({ c, scope: route, claims }: ProxyRequest, order: readonly string[]): string | undefined {
    const pin = c.req.header(PIN_HEADER);
    if (pin === undefined || claims === undefined || !hasAnyRole(claims.roles, PIN_ROLES)) return undefined;
    if (!order.includes(pin)) {
      throw new AppError("validation", `Route ${route.id} has no upstream ${pin}`, {
        errors: [{ location: `header.${PIN_HEADER}`, message: `Expected one of ${order.join(", ")}` }],
      });
    }
    return pin;
  }

  /** A candidate whose breaker is open is not asked: the route's stable upstream serves instead. */
  function divertFromOpenBreaker(
    { c, scope: route }: ProxyRequest,
    order: readonly string[],
    upstream: string,
  ): string {
    const fallback = order[0] as string;
    if (!route.policies.breaker || upstream === fallback || !deps.breakers?.isOpen(upstream)) return upstream;
    deps.metrics.divert(route.id, upstream, fallback, "breaker_open");
    c.get("logger")?.debug(
      { route_id: route.id, from: upstream, to: fallback },
      "breaker open: served by the monolith",
    );
    return fallback;
  }

  /**
   * The request as the upstream gets it: forwarding headers rewritten on the client's own Headers (in place:
   * nothing reads the client's hop-by-hop or x-fig-* fields after this point), the body streamed as it came.
   */
  function upstreamRequestOf({ c, clientIp }: ProxyRequest): UpstreamRequest {
    const incoming = c.req.raw;
    const url = incoming.url;
    const headers = rewriteForwardedHeaders(
      incoming.headers,
      c.get("requestId"),
      // The fast path's exchange has the server span's traceparent as a string (no span object made for it).
      (c.get("traceparent" as never) as string | undefined) ??
        traceparentOf(c.get("span")) ??
        incoming.headers.get("traceparent") ??
        undefined,
      clientIp,
      url.startsWith("https:") ? "https" : "http",
    );
    return { method: incoming.method, url, headers, body: incoming.body };
  }

  /** No answer from any upstream: 499 when the client left first, else the policies' problem (metrics, log bindings). */
  function failed(
    { c, scope: route }: ProxyRequest,
    upstream: string,
    error: unknown,
    started: number,
  ): Response {
    const seconds = (performance.now() - started) / 1000;
    // The request's own child logger (createApp's): bound in place, no second child per request.
    c.get("logger").setBindings(routeBindings(route.id, upstream));
    if (isAbortError(error)) {
      c.get("logger").debug({ seconds }, "client disconnected before the upstream answered");
      return new Response(null, { status: 499 });
    }
    deps.metrics.error(route.id, upstream, error instanceof AppError ? error.type : "error");
    throw error;
  }

  /** Metrics of the answer and of every attempt; the access log's route and upstream. */
  function report(
    { c, scope: route }: ProxyRequest,
    upstream: string,
    result: ForwardResult,
    started: number,
  ) {
    const seconds = (performance.now() - started) / 1000;
    const served = result.upstream;
    deps.metrics.observe(route.id, served, c.req.method, result.response.status, seconds);
    for (const attempt of result.attempts) {
      if (attempt.error) deps.metrics.error(route.id, attempt.upstream, attempt.error);
      if (attempt.kind !== "first") deps.metrics.divert(route.id, upstream, attempt.upstream, attempt.kind);
    }
    const logger = c.get("logger");
    // The access line (info) and a 5xx's error line carry the route and upstream; with neither to write
    // (LOG_LEVEL=warn and a good answer) the bindings, which re-serialise the logger's fields, are skipped.
    if (result.response.status >= 500 || logger.isLevelEnabled("info"))
      logger.setBindings(routeBindings(route.id, served));
    // A listener per request only when its debug line can be written (one fewer native call per request).
    if (logger.isLevelEnabled("debug")) logDisconnect(logger, c.req.raw.signal, route.id, served);
  }
}

/**
 * The log bindings of a route and upstream, `{ route_id, upstream }`: one frozen object per pair, shared by
 * every request (setBindings copies from it, never into it). The pairs are the route table's.
 */
function routeBindings(routeId: string, upstream: string): Record<string, string> {
  let byUpstream = bindingsByRoute.get(routeId);
  if (byUpstream === undefined) {
    if (bindingsByRoute.size >= 1000) return { route_id: routeId, upstream };
    byUpstream = new Map();
    bindingsByRoute.set(routeId, byUpstream);
  }
  let bindings = byUpstream.get(upstream);
  if (bindings === undefined) {
    bindings = Object.freeze({ route_id: routeId, upstream });
    byUpstream.set(upstream, bindings);
  }
  return bindings;
}
const bindingsByRoute = new Map<string, Map<string, Readonly<Record<string, string>>>>();

/**
 * The debug line of a client that leaves mid-response. Its own function: a closure made inside `report` would
 * have JSC allocate report's captured scope on every call, debug on or not.
 */
function logDisconnect(
  logger: { debug(object: Record<string, unknown>, message: string): void },
  signal: AbortSignal,
  routeId: string,
  upstream: string,
): void {
  signal.addEventListener(
    "abort",
    () => logger.debug({ route_id: routeId, upstream }, "client disconnected mid-response"),
    { once: true },
  );
}
