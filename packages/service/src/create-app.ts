import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { type Tracer, trace } from "@opentelemetry/api";
import type { Env } from "hono";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { docsRoutes } from "./docs.ts";
import { DomainError, problemOfDomainError } from "./domain-error.ts";
import { createHttpMetrics, type HttpMetrics } from "./metrics.ts";
import { observeRequests } from "./observe.ts";
import {
  AppError,
  errorResponses,
  fieldErrorsFromZod,
  type ProblemType,
  problemCatalog,
  problemResponse,
} from "./problem.ts";

/** A dependency `/ready` checks; it rejects (or times out) when the dependency is unusable. */
export type ReadinessCheck = () => Promise<unknown>;

/** Shared between the app (which reports it on /ready) and `serveApp` (which sets it on shutdown). */
export type Lifecycle = { draining: boolean };
export const createLifecycle = (): Lifecycle => ({ draining: false });

/** An OpenAPI Server Object: where consumers send requests. */
export type ServerInfo = { url: string; description?: string };

export type AppOptions = {
  name: string;
  version: string;
  description?: string;
  /** Default: `/`, i.e. the origin the document was fetched from (OpenAPI 3.1 §4.8.5). */
  servers?: ServerInfo[];
  logger: Logger;
  tracer?: Tracer;
  readiness?: Record<string, ReadinessCheck>;
  readinessTimeoutMs?: number;
  lifecycle?: Lifecycle;
  /** Extra fields for a 200 `/ready` body (a gateway reports how fresh its route state is). */
  readyDetails?: () => Record<string, unknown>;
  /** Extra metrics served on `/metrics` after the HTTP ones (a gateway's per-upstream metrics). */
  metricsRegistry?: Registry;
  /**
   * The HTTP metrics the app observes into (default: its own). A service that answers some requests before
   * the Hono chain (the gateway's proxy fast path) passes the set it also observes those into.
   */
  httpMetrics?: HttpMetrics;
};

// Problem locations name the part of the HTTP message, not the validator (RFC 9457 `errors[].location`).
const locationOfTarget: Record<string, string> = {
  json: "body",
  form: "body",
  param: "path",
  query: "query",
  header: "header",
  cookie: "cookie",
};

/**
 * A router with Fig's validation hook: any zod failure becomes a 400 problem+json whose `errors[]`
 * locate each field (`body.tariff_cents`, `query.limit`). Use it for every resource router.
 */
export function createRouter<E extends Env = Env>() {
  return new OpenAPIHono<E>({
    defaultHook(result) {
      if (result.success) return;
      const where = locationOfTarget[result.target] ?? result.target;
      const errors = fieldErrorsFromZod(result.error.issues, where);
      const detail = `${errors.length} invalid field${errors.length === 1 ? "" : "s"} in ${where}`;
      throw new AppError("validation", detail, { errors });
    },
  });
}

const statusToProblem = new Map<number, ProblemType>(
  Object.entries(problemCatalog).map(([type, { status }]) => [status, type as ProblemType]),
);

const HealthSchema = z.object({ status: z.literal("ok") }).openapi("Health");
const ReadySchema = z
  .object({
    status: z.literal("ready"),
    checks: z.record(z.string(), z.literal("ok")).openapi({ example: { database: "ok" } }),
  })
  .openapi("Ready");

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  operationId: "getHealth",
  tags: ["Operations"],
  summary: "Liveness: the process is up",
  security: [], // probes answer without a token (orchestrators call them)
  responses: { 200: { description: "Alive", content: { "application/json": { schema: HealthSchema } } } },
});

const readyRoute = createRoute({
  method: "get",
  path: "/ready",
  operationId: "getReady",
  tags: ["Operations"],
  summary: "Readiness: every dependency answers",
  security: [],
  description: "503 names the dependency that failed (or `shutdown` while draining).",
  responses: {
    200: { description: "Ready", content: { "application/json": { schema: ReadySchema } } },
    ...errorResponses(503),
  },
});

async function withTimeout(check: ReadinessCheck, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([check(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The base of every Fig service: request id, one log line + span + metrics per request, problem+json
 * errors, `/health`, `/ready`, `/metrics`, `/openapi.json` (OpenAPI 3.1) and `/docs` (Scalar).
 *
 * @example
 * const app = createApp({ name: "reference-data", version: "1.0.0", logger, readiness: { database: () => db.ping() } });
 * app.route("/api/codes", codesRouter);
 */
export function createApp({
  name,
  version,
  description,
  servers,
  logger,
  tracer = trace.getTracer(name),
  readiness = {},
  readinessTimeoutMs = 2000,
  lifecycle = createLifecycle(),
  readyDetails,
  metricsRegistry,
  httpMetrics,
}: AppOptions) {
  const app = createRouter();
  const metrics = httpMetrics ?? createHttpMetrics();

  app.use(requestId({ limitLength: 128 }));
  app.use(observeRequests({ logger, tracer, metrics }));

  app.notFound((c) =>
    problemResponse(c, new AppError("not_found", `No route for ${c.req.method} ${c.req.path}`)),
  );
  app.onError((error, c) => {
    if (error instanceof AppError) return problemResponse(c, error);
    if (error instanceof DomainError) return problemResponse(c, problemOfDomainError(error));
    if (error instanceof HTTPException && error.status < 500) {
      const type = statusToProblem.get(error.status) ?? "validation";
      return problemResponse(c, new AppError(type, error.message || problemCatalog[type].title));
    }
    (c.get("logger") ?? logger).error({ err: error }, "unhandled error");
    return problemResponse(
      c,
      new AppError("internal", "An unexpected error occurred; quote the instance id when reporting it."),
    );
  });

  app.openapi(healthRoute, (c) => c.json({ status: "ok" as const }, 200));
  app.openapi(readyRoute, async (c) => {
    if (lifecycle.draining)
      throw new AppError("not_ready", "Shutting down", { extensions: { checks: { shutdown: "draining" } } });
    const names = Object.keys(readiness);
    const results = await Promise.allSettled(
      names.map((n) => withTimeout(readiness[n] as ReadinessCheck, readinessTimeoutMs)),
    );
    const checks: Record<string, string> = {};
    const failed: string[] = [];
    results.forEach((r, i) => {
      const n = names[i] as string;
      checks[n] = r.status === "fulfilled" ? "ok" : `failed: ${(r.reason as Error)?.message ?? r.reason}`;
      if (r.status === "rejected") failed.push(n);
    });
    if (failed.length > 0) {
      throw new AppError("not_ready", `Dependency not ready: ${failed.join(", ")}`, {
        extensions: { checks },
      });
    }
    const details = readyDetails?.() ?? {};
    return c.json({ ...details, status: "ready" as const, checks: checks as Record<string, "ok"> }, 200);
  });

  app.get("/metrics", async (c) => {
    const text = await metrics.registry.metrics();
    const extra = metricsRegistry ? await metricsRegistry.metrics() : "";
    return c.body(extra ? `${text}\n${extra}` : text, 200, { "content-type": metrics.registry.contentType });
  });

  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description:
      "A JWT with claims `sub`, `tenant`, `roles` (viewer < editor < admin). Dev: `bun run token`.",
  });
  app.doc31("/openapi.json", documentConfig({ name, version, description, servers }));
  app.route("/docs", docsRoutes({ title: `Fig ${name} API`, specUrl: "/openapi.json", basePath: "/docs" }));

  return app;
}

export type App = ReturnType<typeof createApp>;

type ServiceInfo = {
  name: string;
  version: string;
  description?: string | undefined;
  servers?: ServerInfo[] | undefined;
};

// Relative, so "try it" in /docs calls whichever host served the document (localhost in dev, the
// deployed host elsewhere) instead of a URL baked in when the spec was generated.
const defaultServers: ServerInfo[] = [{ url: "/", description: "The host that serves this document" }];

/** The document header, shared by the served /openapi.json and `bun run openapi` so the two never differ. */
function documentConfig({ name, version, description, servers = defaultServers }: ServiceInfo) {
  return {
    openapi: "3.1.0",
    info: { title: `Fig ${name}`, version, ...(description ? { description } : {}) },
    servers,
  };
}

/** The OpenAPI 3.1 document of an app, built without serving it (for `bun run openapi`). */
export function openApiDocumentOf(app: App, service: ServiceInfo) {
  return app.getOpenAPI31Document(documentConfig(service));
}
