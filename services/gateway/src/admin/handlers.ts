import { AppError, createRouter, type Logger } from "@fig/service";
import type { Context } from "hono";
import type { Breakers } from "../policies/breaker.ts";
import type { Shadow } from "../policies/shadow/mirror.ts";
import type { RouteDefinition, RouteTable } from "../routes.ts";
import {
  type LiveRoute,
  RevisionMismatchError,
  type RouteChange,
  type RouteStateStore,
  StateUnavailableError,
  UnknownRouteError,
} from "../state/types.ts";
import { completeWeights, weightProblems } from "../state/validate.ts";
import { type JobsSource, registerJobsRoutes } from "./jobs.ts";
import {
  historyRoute,
  listRoutesRoute,
  putStateRoute,
  putWeightsRoute,
  putWriteOwnerRoute,
  shadowReportRoute,
} from "./routes.ts";

export type AdminDeps = {
  table: RouteTable;
  store: RouteStateStore;
  breakers?: Breakers;
  shadow?: Shadow;
  /** The route file's work queues and the dead letters (/_fig/jobs, /_fig/dlq); 503 without. */
  jobs?: JobsSource;
  logger?: Logger;
};

function revisionOf(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:W\/)?"?(\d+)"?$/.exec(header.trim());
  if (!match) {
    throw new AppError("validation", 'If-Match must be a route revision such as "7"', {
      errors: [{ location: "header.if-match", message: "Expected a quoted revision number" }],
    });
  }
  return Number(match[1]);
}

/** The admin API: /_fig/routes and the changes to a route, each recorded in its history; role admin (see guard.ts). */
export function adminRouter(deps: AdminDeps) {
  const { table, store, breakers } = deps;
  const all = [table.defaultRoute, ...table.routes];
  const byId = new Map(all.map((r) => [r.id, r]));
  const router = createRouter();

  const view = (route: RouteDefinition, live: LiveRoute | undefined) => ({
    id: route.id,
    prefixes: route.prefixes,
    methods: route.methods,
    upstreams: route.upstreams.map((u) => ({
      name: u.name,
      url: u.url,
      weight: live?.weights[u.name] ?? 0,
      breaker: breakers?.state(u.name) ?? "closed",
    })),
    state: live?.state ?? route.state,
    writeOwner: live?.writeOwner ?? route.writeOwner,
    writes: route.writes,
    gate: route.gate ?? null,
    policies: route.policies as unknown as Record<string, unknown>,
    revision: live?.revision ?? 0,
    updatedAt: live?.updatedAt ?? "",
    updatedBy: live?.updatedBy ?? "",
  });
  const routeOr404 = (id: string) => {
    const route = byId.get(id);
    if (!route)
      throw new AppError("not_found", `No route ${id}; routes are ${all.map((r) => r.id).join(", ")}`);
    return route;
  };

  async function applyChange(c: Context, id: string, change: RouteChange, why: string | undefined) {
    const route = routeOr404(id);
    try {
      const live = await store.change(id, change, {
        who: c.get("auth")?.sub ?? "unknown",
        why: why ?? null,
        ifRevision: revisionOf(c.req.header("if-match")),
      });
      c.header("etag", `"${live.revision}"`);
      return c.json(view(route, live), 200);
    } catch (error) {
      if (error instanceof UnknownRouteError) throw new AppError("not_found", error.message);
      if (error instanceof RevisionMismatchError)
        throw new AppError(
          "precondition_failed",
          `Route ${id} changed meanwhile: it is at revision ${error.current}`,
          {
            extensions: { revision: error.current },
          },
        );
      if (error instanceof StateUnavailableError) throw new AppError("not_ready", error.message);
      throw error;
    }
  }

  router.openapi(listRoutesRoute, (c) =>
    c.json({ routes: all.map((r) => view(r, store.get(r.id))), state: store.health() }, 200),
  );

  router.openapi(putWeightsRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { weights, reason } = c.req.valid("json");
    const route = routeOr404(id);
    const errors = weightProblems(route, weights);
    if (errors.length > 0) throw new AppError("validation", `Invalid weights for route ${id}`, { errors });
    return applyChange(
      c,
      id,
      { kind: "weights", weights: completeWeights(route, weights as Record<string, number>) },
      reason,
    );
  });

  router.openapi(putStateRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { state, reason } = c.req.valid("json");
    return applyChange(c, id, { kind: "state", state }, reason);
  });

  router.openapi(putWriteOwnerRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { writeOwner, reason } = c.req.valid("json");
    const route = routeOr404(id);
    if (!route.upstreams.some((u) => u.name === writeOwner)) {
      throw new AppError("validation", `Route ${id} has no upstream ${writeOwner}`, {
        errors: [
          {
            location: "body.writeOwner",
            message: `Expected one of ${route.upstreams.map((u) => u.name).join(", ")}`,
          },
        ],
      });
    }
    return applyChange(c, id, { kind: "write-owner", writeOwner }, reason);
  });

  router.openapi(historyRoute, (c) => {
    const { id } = c.req.valid("param");
    routeOr404(id);
    return c.json({ id, history: store.get(id)?.history ?? [] }, 200);
  });

  router.openapi(shadowReportRoute, (c) => {
    if (!deps.shadow) throw new AppError("not_found", "Shadow traffic is not configured");
    return c.json(deps.shadow.snapshot(), 200);
  });

  registerJobsRoutes(router, deps.jobs, deps.logger);
  return router;
}
