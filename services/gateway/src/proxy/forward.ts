import { hasAnyRole, type Role, type TokenVerifier } from "@fig/auth";
import { AppError, traceparentOf } from "@fig/service";
import type { Context } from "hono";
import { createAdmission } from "../policies/admission.ts";
import type { Breakers } from "../policies/breaker.ts";
import type { RateLimiter } from "../policies/rate-limit.ts";
import type { ForwardPlan, ForwardResult } from "../policies/resilient-send.ts";
import { isAbortError } from "../policies/timeout.ts";
import type { SendFn, UpstreamRequest } from "../policies/types.ts";
import type { RouteDefinition, RouteTable } from "../routes.ts";
import type { RouteStateStore } from "../state/types.ts";
import { clientResponse, upstreamRequestHeaders } from "./headers.ts";
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

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
const PIN_HEADER = "x-fig-route";
const PIN_ROLES = ["admin", "gate"] as const;

/**
 * `fetch` of one attempt: the prepared request's path and query on the upstream's base URL, bodies
 * streamed both ways (`duplex: "half"`), redirects and content encodings passed through untouched.
 */
export function createSend(urls: ReadonlyMap<string, string>): SendFn {
  return function send(upstream, request, signal) {
    const base = urls.get(upstream);
    if (!base) return Promise.reject(new Error(`No URL for upstream ${upstream}`));
    const url = request.url;
    const pathStart = url.indexOf("/", url.indexOf("//") + 2);
    return fetch(base + (pathStart === -1 ? "/" : url.slice(pathStart)), {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal,
      redirect: "manual",
      // Bun: keep the upstream's bytes (and its content-encoding) as they are, streaming.
      decompress: false,
      duplex: "half",
    } as RequestInit);
  };
}

/** Which upstream a request goes to before resilience policies run, and why (for logs and metrics). */
export function chooseUpstream(
  route: RouteDefinition,
  live: { weights: Record<string, number>; state: string; writeOwner: string },
  method: string,
  consumer: string,
): { upstream: string; reason: "weights" | "inactive" | "write-owner" } {
  const first = route.upstreams[0]?.name as string;
  if (live.state === "inactive") return { upstream: first, reason: "inactive" };
  if (!SAFE.has(method) && route.writes === "owner")
    return { upstream: live.writeOwner, reason: "write-owner" };
  const order = route.upstreams.map((u) => u.name);
  return { upstream: pickByWeight(order, live.weights, bucketOf(consumer, route.id)), reason: "weights" };
}

/**
 * The gateway's request path for everything under /api: route match → admission (identity, rate limit, auth) →
 * upstream choice (pin, state, write owner, sticky weights, breaker) → resilient forward → streamed
 * response with `Fig-Served-By` and RateLimit-* headers. Web-standard APIs only.
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

  return async function proxy(c: Context): Promise<Response> {
    const method = c.req.method;
    const route = match(c.req.path, method) ?? deps.table.defaultRoute;
    const order = orders.get(route.id) as string[];
    const { claims, clientIp, consumer, limitHeaders } = await admit(c, route);
    try {
      // A write to the owner waits out a hold first, then reads the live state: released, it goes to the new owner.
      const holds = !SAFE.has(method) && route.writes === "owner" ? deps.writeHolds : undefined;
      if (holds) {
        await holds.pass(route.id, c.req.raw.signal);
        holds.begin(route.id);
      }
      try {
        return await proxyTo(c, route, order, method, claims, clientIp, consumer, limitHeaders);
      } finally {
        holds?.end(route.id);
      }
    } catch (error) {
      // The problem answer (onError, from the context) carries the RateLimit-* fields as every answer does;
      // a proxied answer gets them on its own Response (proxyTo), so they are set on the context only here.
      for (const name in limitHeaders) c.header(name, limitHeaders[name]);
      throw error;
    }
  };

  async function proxyTo(
    c: Context,
    route: RouteDefinition,
    order: string[],
    method: string,
    claims: { roles: readonly Role[] } | undefined,
    clientIp: string | undefined,
    consumer: string,
    limitHeaders: Record<string, string>,
  ): Promise<Response> {
    const live = deps.store.get(route.id) ?? {
      weights: { [order[0] as string]: 100 },
      state: "active",
      writeOwner: order[0] as string,
    };
    const pin = c.req.header(PIN_HEADER);
    const pinned = pin !== undefined && claims !== undefined && hasAnyRole(claims.roles, PIN_ROLES);
    let upstream: string;
    // Chosen by weights (not a pin, not the write owner): may go to the stable upstream if never reached.
    let movable = false;
    if (pinned) {
      if (!order.includes(pin)) {
        throw new AppError("validation", `Route ${route.id} has no upstream ${pin}`, {
          errors: [{ location: `header.${PIN_HEADER}`, message: `Expected one of ${order.join(", ")}` }],
        });
      }
      upstream = pin;
    } else {
      const choice = chooseUpstream(route, live, method, consumer);
      upstream = choice.upstream;
      movable = choice.reason === "weights";
      const fallback = order[0] as string;
      if (route.policies.breaker && upstream !== fallback && deps.breakers?.isOpen(upstream)) {
        deps.metrics.divert(route.id, upstream, fallback, "breaker_open");
        c.get("logger")?.debug(
          { route_id: route.id, from: upstream, to: fallback },
          "breaker open: served by the monolith",
        );
        upstream = fallback;
      }
    }

    const incoming = c.req.raw;
    const headers = upstreamRequestHeaders(incoming.headers, {
      requestId: c.get("requestId"),
      traceparent: traceparentOf(c.get("span")) ?? incoming.headers.get("traceparent") ?? undefined,
      clientIp,
      proto: c.req.url.startsWith("https:") ? "https" : "http",
      host: incoming.headers.get("host") ?? undefined,
    });
    const request: UpstreamRequest = { method, url: incoming.url, headers, body: incoming.body };
    const started = performance.now();
    let result: ForwardResult;
    try {
      result = await deps.forward({
        request,
        upstream,
        upstreams: order,
        retryUpstreams: () => order.filter((name, i) => i === 0 || (live.weights[name] ?? 0) > 0),
        clientSignal: incoming.signal,
        timeoutMs: route.policies.timeoutMs,
        maxRetries: route.policies.retries,
        readFallback: route.policies.readFallback,
        pinned,
        breaker: route.policies.breaker,
        unreachedFallback: movable && upstream !== order[0] ? order[0] : undefined,
      });
    } catch (error) {
      const seconds = (performance.now() - started) / 1000;
      // The request's own child logger (createApp's): bound in place, no second child per request.
      c.get("logger").setBindings({ route_id: route.id, upstream });
      if (isAbortError(error)) {
        c.get("logger").debug({ seconds }, "client disconnected before the upstream answered");
        return new Response(null, { status: 499 });
      }
      deps.metrics.error(route.id, upstream, error instanceof AppError ? error.type : "error");
      throw error;
    }
    const seconds = (performance.now() - started) / 1000;
    const served = result.upstream;
    deps.metrics.observe(route.id, served, method, result.response.status, seconds);
    for (const attempt of result.attempts) {
      if (attempt.error) deps.metrics.error(route.id, attempt.upstream, attempt.error);
      if (attempt.kind !== "first") deps.metrics.divert(route.id, upstream, attempt.upstream, attempt.kind);
    }
    const logger = c.get("logger");
    // The access line (info) and a 5xx's error line carry the route and upstream; with neither to write
    // (LOG_LEVEL=warn and a good answer) the bindings, which re-serialise the logger's fields, are skipped.
    if (result.response.status >= 500 || logger.isLevelEnabled("info"))
      logger.setBindings({ route_id: route.id, upstream: served });
    // A listener per request only when its debug line can be written (one fewer native call per request).
    if (logger.isLevelEnabled("debug"))
      incoming.signal.addEventListener(
        "abort",
        () => logger.debug({ route_id: route.id, upstream: served }, "client disconnected mid-response"),
        { once: true },
      );

    // The mirror clones the primary's answer before its headers are rewritten for the client.
    if (deps.mirror && method === "GET" && !pinned) deps.mirror(route, request, result.response, served);
    // A returned Response does not carry headers set with c.header() earlier in the chain: set them on it.
    // limitHeaders is this request's own object: the answer's extra fields go on it rather than on a copy.
    limitHeaders["fig-served-by"] = served;
    limitHeaders["x-request-id"] = c.get("requestId");
    return clientResponse(result.response, limitHeaders);
  }
}
