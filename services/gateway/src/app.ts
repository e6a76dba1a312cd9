import { dirname } from "node:path";
import { createTokenVerifier, DEV_SECRET_DEFAULT, type TokenVerifier } from "@fig/auth";
import type { RouteDataReader } from "@fig/datasync/view";
import { loadRouteFile, ROOT_PREFIXES } from "@fig/route-file";
import {
  createApp,
  createRouter,
  type Lifecycle,
  type Logger,
  openApiDocumentOf,
  type ReadinessCheck,
} from "@fig/service";
import { type Tracer, trace } from "@opentelemetry/api";
import type { Context } from "hono";
import { type AuditAdminDeps, auditRouter } from "./admin/audit.ts";
import { dataRouter } from "./admin/data.ts";
import { figGuard } from "./admin/guard.ts";
import { type JobsSource, registerJobsRoutes } from "./admin/jobs.ts";
import { type PromotionsReader, promotionsRouter, withLiveShadow } from "./admin/promotions.ts";
import { routeCountersRouter } from "./admin/route-counters.ts";
import { routeStateRouter } from "./admin/route-state.ts";
import { shadowRouter } from "./admin/shadow.ts";
import { writeHoldRouter } from "./admin/write-hold.ts";
import type { ProcessGroup } from "./cluster-share.ts";
import { DEFAULT_OPERATOR_TENANT, DEFAULT_ROUTES_FILE } from "./config.ts";
import { type ConsoleOptions, mountConsole } from "./console/mount.ts";
import { CONSOLE_PATH } from "./console/page.tsx";
import { withListMergeNotes } from "./docs/list-merge.ts";
import {
  mergeOpenApiDocuments,
  type OpenApiDocument,
  type UpstreamDocument,
  withGatewayResponses,
} from "./docs/merge.ts";
import { readUpstreamDocuments } from "./docs/upstreams.ts";
import { createGatewayMetrics, createHttpMetrics } from "./metrics.ts";
import { createAdmission } from "./policies/admission.ts";
import { type Breakers, createBreakers } from "./policies/breaker.ts";
import { createRateLimiter, type RateLimiter } from "./policies/rate-limit.ts";
import { createResilientSend } from "./policies/resilient-send.ts";
import { createRetryBudget, type RetryBudget } from "./policies/retry.ts";
import { createShadow, routeMirror, type Shadow } from "./policies/shadow/mirror.ts";
import type { SendFn, UpstreamRequest } from "./policies/types.ts";
import { createFastPath } from "./proxy/fast-path.ts";
import { createProxyHandler } from "./proxy/forward.ts";
import { withListMerges } from "./proxy/list-merge.ts";
import { createSend } from "./proxy/send.ts";
import { createWriteHolds } from "./proxy/write-hold.ts";
import { API_PREFIX, type RouteDefinition, type RouteTable } from "./routes.ts";
import { createMemoryRouteStore } from "./state/memory-store.ts";
import type { RouteStateStore } from "./state/types.ts";

export const SERVICE = {
  name: "gateway",
  version: "1.0.0",
  description:
    "The one URL in front of Fig: every /api operation of the monolith and the services extracted from it, routed route by route " +
    "(weighted, sticky per user; writes to the route's write owner). Send `Authorization: Bearer <JWT>`; every answer carries " +
    "`Fig-Served-By` (the upstream that answered) and `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` " +
    "(a token bucket per user and route; 429 adds `Retry-After`). Tokens with role admin or gate may pin an upstream with " +
    "`x-fig-route: <upstream>`. `/_fig/*` is the admin API, for the platform's operators only (role operator in the operator tenant).",
};

export type GatewayDeps = {
  table: RouteTable;
  store: RouteStateStore;
  verifier: TokenVerifier;
  logger: Logger;
  tracer?: Tracer;
  readiness?: Record<string, ReadinessCheck>;
  lifecycle?: Lifecycle;
  /**
   * The upstream services' OpenAPI documents, merged into the gateway's /openapi.json: built on the first
   * request for it (building them costs ~85 ms, which start-up need not pay).
   */
  upstreamDocuments?: () => UpstreamDocument[];
  /** The client's address; default: the Bun server's `requestIP` (Hono passes the server as `c.env`). */
  clientIp?: (c: Context) => string | undefined;
  send?: SendFn;
  breakers?: Breakers;
  budget?: RetryBudget;
  limiter?: RateLimiter;
  /** Shadow traffic (mirror, compare, noise baseline); default: one over the proxy's own send. */
  shadow?: Shadow;
  /** The N processes sharing the port (cluster-share.ts): the shadow report, counters and write hold cover all. */
  processGroup?: ProcessGroup;
  /** The route file's work queues and the dead letters (/_fig/jobs, /_fig/dlq, the console's Jobs). */
  jobs?: JobsSource;
  console?: ConsoleOptions;
  /** Promotion records (packages/promote's KV bucket) for GET /_fig/promotions. */
  promotions?: PromotionsReader;
  /** migrate-data's and the live sync's records (packages/datasync's KV bucket) for GET /_fig/data. */
  data?: RouteDataReader;
  /** Whose `operator` tokens may use /_fig and the console (FIG_OPERATOR_TENANT); default `platform`. */
  operatorTenant?: string;
  /** The audit service GET /_fig/audit reads (the route file's `audit` upstream). */
  audit?: AuditAdminDeps;
};

type AddressOwner = { requestIP?: (request: Request) => { address: string } | null };
const serverClientIp = (c: Context) => (c.env as AddressOwner | undefined)?.requestIP?.(c.req.raw)?.address;

/** Every upstream's base URL by name, from the route table. */
export function upstreamUrls(table: RouteTable): Map<string, string> {
  const urls = new Map<string, string>();
  for (const route of [table.defaultRoute, ...table.routes])
    for (const u of route.upstreams) urls.set(u.name, u.url);
  return urls;
}

/** The route state's freshness for /ready: current, or stale since when (NATS unreachable). */
function routeStateNote(store: RouteStateStore): string {
  const { loaded, staleSince } = store.health();
  if (staleSince === null) return "current";
  return `stale since ${staleSince}: serving the ${loaded ? "last state seen" : "route file's seed"}`;
}

/**
 * Pure factory: the gateway app from its dependencies (no I/O here). /api/* is proxied; /_fig/* is the
 * admin API; /openapi.json is the merged document of every operation reachable through the gateway.
 */
export function buildGateway(deps: GatewayDeps) {
  const { table, store, verifier, logger, operatorTenant = DEFAULT_OPERATOR_TENANT } = deps;
  const metrics = createGatewayMetrics();
  const httpMetrics = createHttpMetrics();
  const breakers = deps.breakers ?? createBreakers();
  breakers.onStateChange(({ upstream, from, to }) => {
    const log = to === "closed" ? logger.info.bind(logger) : logger.warn.bind(logger);
    log(
      { upstream, from, to },
      `breaker ${to} for ${upstream}${to === "open" ? ": its share goes to the monolith" : ""}`,
    );
  });
  const send = deps.send ?? createSend(upstreamUrls(table));
  const shadow = deps.shadow ?? createShadow({ fetch: send, logger });
  // A route's declared lists are asked of every upstream and merged (proxy/list-merge.ts).
  const forward = withListMerges(
    createResilientSend({ send, breakers, budget: deps.budget ?? createRetryBudget() }),
    { table, store },
  );
  const limiter = deps.limiter ?? createRateLimiter();
  const clientIp = deps.clientIp ?? serverClientIp;

  const readiness: Record<string, ReadinessCheck> = {
    ...deps.readiness,
    // Not ready only until the live state was read once: a replica serving a stale seed could send writes to
    // the wrong owner. After that, NATS being down leaves the gateway ready (it serves the last state).
    routes: async () => {
      if (!store.health().loaded)
        throw new Error("route state not loaded from NATS KV yet (serving the route file's seed)");
    },
  };
  const app = createApp({
    ...SERVICE,
    logger,
    tracer: deps.tracer,
    readiness,
    lifecycle: deps.lifecycle,
    readyDetails: () => ({ routeState: routeStateNote(store) }),
    metricsRegistry: metrics.registry,
    httpMetrics,
  });
  // Every /_fig request is admitted once, here, whichever router answers it; the console checks its own token.
  app.use(
    "/_fig/*",
    figGuard({
      admission: createAdmission({ verifier, limiter, clientIp }),
      rateLimit: table.defaultRoute.policies.rateLimit,
      operatorTenant,
      ownAuth: [CONSOLE_PATH],
    }),
  );
  const { sampler } = mountConsole(app, {
    ...deps.console,
    table,
    store,
    verifier,
    breakers,
    shadow,
    registry: metrics.registry,
    jobs: deps.jobs,
    promotionsReader: deps.promotions,
    logger,
    operatorTenant,
  });
  const writeHolds = createWriteHolds(store);
  app.route("/_fig", dataRouter({ table, store, reader: deps.data }));
  app.route("/_fig", writeHoldRouter({ table, store, holds: writeHolds, group: deps.processGroup }));
  app.route("/_fig", routeCountersRouter({ table, registry: metrics.registry, group: deps.processGroup }));
  app.route("/_fig", promotionsRouter({ table, store, promotions: deps.promotions }));
  app.route("/_fig", routeStateRouter({ table, store, breakers }));
  app.route("/_fig", shadowRouter({ shadow, group: deps.processGroup }));
  app.route("/_fig", auditRouter(deps.audit ?? {}));
  const jobsRouter = createRouter();
  registerJobsRoutes(jobsRouter, deps.jobs, logger);
  app.route("/_fig", jobsRouter);
  // The route's shadow share may be raised at run time (a promotion's shadow step): read it from the live state.
  const mirror = routeMirror(shadow);
  const liveMirror = (
    route: RouteDefinition,
    request: UpstreamRequest,
    primary: Response,
    upstream: string,
  ) => mirror(withLiveShadow(route, store.get(route.id)), request, primary, upstream);
  const proxy = createProxyHandler({
    table,
    store,
    verifier,
    limiter,
    metrics,
    forward,
    breakers,
    clientIp,
    mirror: liveMirror,
    writeHolds,
  });
  app.all("/api", proxy);
  app.all("/api/*", proxy);
  // Identity's well-known URIs and OAuth endpoints live at the root: the route file admits these roots only.
  for (const root of ROOT_PREFIXES) app.all(`${root}/*`, proxy);
  // The proxied requests skip Hono's routing and middleware chain (proxy/fast-path.ts): the same handler,
  // request id, span, metrics and access line, at a fraction of the cost. app.request() goes through it too.
  const fastPath = createFastPath({
    proxy,
    logger,
    tracer: deps.tracer ?? trace.getTracer(SERVICE.name),
    httpMetrics,
    prefixes: [API_PREFIX, ...ROOT_PREFIXES],
  });
  const honoFetch = app.fetch;
  app.fetch = (request, env, executionCtx) => fastPath(request, env) ?? honoFetch(request, env, executionCtx);

  // createApp serves /openapi.json from getOpenAPI31Document at request time: serve the merged one there.
  const own = app.getOpenAPI31Document;
  let merged: OpenApiDocument | undefined;
  app.getOpenAPI31Document = (config, generator) => {
    merged ??= withListMergeNotes(
      withGatewayResponses(
        mergeOpenApiDocuments(
          own(config, generator) as unknown as OpenApiDocument,
          deps.upstreamDocuments?.() ?? [],
        ),
      ),
      table,
    );
    return merged as unknown as ReturnType<typeof own>;
  };
  return { app, metrics, breakers, limiter, shadow, sampler, writeHolds };
}

/**
 * The merged OpenAPI document, built without NATS or a socket (for `bun run openapi`): the route file's table
 * with its variables' defaults, and the upstreams' committed documents it lists.
 */
export function openApiDocument(logger: Logger, routesFile = DEFAULT_ROUTES_FILE) {
  const { table, upstreams } = loadRouteFile({ file: routesFile, env: {}, requireUrls: false });
  const { app } = buildGateway({
    table,
    store: createMemoryRouteStore([table.defaultRoute, ...table.routes]),
    verifier: createTokenVerifier({ issuer: "-", audience: "-", devSecret: DEV_SECRET_DEFAULT }),
    logger,
    upstreamDocuments: () => readUpstreamDocuments({ upstreams, table, baseDir: dirname(routesFile) }),
  });
  return openApiDocumentOf(app, SERVICE);
}
