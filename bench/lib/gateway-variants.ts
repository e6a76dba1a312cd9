/**
 * The gateway's request path taken apart, for the "where the time goes" breakdown of bench/gateway.ts (run as
 * its own process, in front of TARGET, every upstream name pointing there; route state in memory, no NATS):
 *
 *   MODE=headers — a bare Bun.serve → fetch proxy plus the gateway's header work: upstreamRequestHeaders,
 *                  a new Request, clientResponseHeaders, a new Response (proxy/headers.ts)
 *   MODE=handler — the gateway's proxy handler (match, identify, rate limit, auth, pick, resilient send,
 *                  metrics) in a plain Hono app: no createApp middleware (request id, span, log line, metrics)
 *   MODE=full    — buildGateway(), the app main.ts serves, over a memory route store
 *
 *   MODE=full PORT=9002 TARGET=http://127.0.0.1:9000 AUTH_DEV_SECRET=… bun bench/lib/gateway-variants.ts
 */
import { createTokenVerifier } from "../../packages/auth/src/index.ts";
import { createLogger } from "../../packages/service/src/index.ts";
// hono is a dependency of the gateway, not of the root: take it from there.
import { type Context, Hono } from "../../services/gateway/node_modules/hono";
import { buildGateway, upstreamUrls } from "../../services/gateway/src/app.ts";
import { createGatewayMetrics } from "../../services/gateway/src/metrics.ts";
import { createBreakers } from "../../services/gateway/src/policies/breaker.ts";
import { createRateLimiter } from "../../services/gateway/src/policies/rate-limit.ts";
import { createResilientSend } from "../../services/gateway/src/policies/resilient-send.ts";
import { createRetryBudget } from "../../services/gateway/src/policies/retry.ts";
import type { SendFn } from "../../services/gateway/src/policies/types.ts";
import { createProxyHandler } from "../../services/gateway/src/proxy/forward.ts";
import { clientResponseHeaders, upstreamRequestHeaders } from "../../services/gateway/src/proxy/headers.ts";
import { createSend } from "../../services/gateway/src/proxy/send.ts";
import { createMemoryRouteStore } from "../../services/gateway/src/state/memory-store.ts";
import { routeTable } from "../../services/gateway/test/fixtures/dash-routes.ts";

type Fetch = (request: Request, server: Bun.Server<unknown>) => Response | Promise<Response>;

function headersOnly(target: string): Fetch {
  return async (incoming, server) => {
    const url = incoming.url;
    const path = url.slice(url.indexOf("/", url.indexOf("//") + 2));
    const headers = upstreamRequestHeaders(incoming.headers, {
      requestId: crypto.randomUUID(),
      traceparent: undefined,
      clientIp: server.requestIP(incoming)?.address,
      proto: "http",
      host: incoming.headers.get("host") ?? undefined,
    });
    const request = new Request(url, { method: incoming.method, headers, body: incoming.body });
    const res = await fetch(`${target}${path}`, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      redirect: "manual",
      decompress: false,
    } as RequestInit);
    const out = clientResponseHeaders(res.headers);
    out.set("fig-served-by", "monolith");
    return new Response(res.body, { status: res.status, headers: out });
  };
}

export function gatewayParts(target: string, devSecret = process.env.AUTH_DEV_SECRET ?? "") {
  const urls = { monolith: target, referenceData: target, validation: target };
  const table = routeTable({ urls, perMinute: 1_000_000_000 });
  const store = createMemoryRouteStore([table.defaultRoute, ...table.routes]);
  const verifier = createTokenVerifier({
    issuer: "fig-dev",
    audience: "fig",
    devSecret,
  });
  const logger = createLogger({ service: "gateway", level: "warn" });
  return { table, store, verifier, logger };
}

/**
 * The gateway's proxy handler and policies in a plain Hono app, without createApp's middleware: only what the
 * proxy reads from it (a request id, a child logger per request, as createApp's) is set. Also used in process
 * by bench/gateway-pipeline.ts.
 */
export function plainProxyApp(
  parts: ReturnType<typeof gatewayParts>,
  send: SendFn,
  clientIp: (c: Context) => string | undefined,
) {
  const { table, store, verifier, logger } = parts;
  const breakers = createBreakers();
  const proxy = createProxyHandler({
    table,
    store,
    verifier,
    limiter: createRateLimiter(),
    metrics: createGatewayMetrics(),
    forward: createResilientSend({ send, breakers, budget: createRetryBudget() }),
    breakers,
    clientIp,
  });
  const app = new Hono();
  app.use(async (c, next) => {
    c.set("requestId" as never, crypto.randomUUID() as never);
    // A child per request, as createApp's: the proxy binds route_id/upstream on the request's logger.
    c.set("logger" as never, logger.child({}) as never);
    await next();
  });
  app.all("/api/*", proxy as never);
  app.get("/ready", (c) => c.text("ok"));
  return app;
}

function handlerOnly(target: string): Fetch {
  const parts = gatewayParts(target);
  const app = plainProxyApp(
    parts,
    createSend(upstreamUrls(parts.table)),
    (c) => (c.env as Bun.Server<unknown>).requestIP(c.req.raw)?.address,
  );
  return (request, server) => app.fetch(request, server);
}

function full(target: string): Fetch {
  const { app } = buildGateway(gatewayParts(target));
  return (request, server) => app.fetch(request, server);
}

if (import.meta.main) {
  const target = process.env.TARGET ?? "";
  const mode = process.env.MODE ?? "";
  const make = { headers: headersOnly, handler: handlerOnly, full }[mode];
  if (!target || !make) {
    console.error("gateway-variants: set MODE=headers|handler|full and TARGET=http://host:port");
    process.exit(2);
  }
  const handler = make(target);
  const server = Bun.serve({
    port: Number(process.env.PORT),
    hostname: "127.0.0.1",
    fetch: (request, srv) =>
      new URL(request.url).pathname === "/ready" && mode === "headers"
        ? new Response("ok")
        : handler(request, srv),
  });
  console.log(JSON.stringify({ msg: "listening", mode, port: server.port }));
  process.on("SIGTERM", () => {
    void server.stop(true);
    process.exit(0);
  });
}
