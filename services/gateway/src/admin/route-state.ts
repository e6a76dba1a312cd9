import { AppError, bearerSecurity, createRouter, errorResponses, jsonContent } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { Breakers } from "../policies/breaker.ts";
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
import { ADMIN_TAGS } from "./guard.ts";

const UpstreamSchema = z
  .object({
    name: z.string().openapi({ example: "validation" }),
    url: z.string().openapi({ example: "http://127.0.0.1:8083" }),
    weight: z.number().int().openapi({ description: "Live weight (integer percent)", example: 10 }),
    breaker: z.string().openapi({ description: "Circuit breaker state", example: "closed" }),
  })
  .openapi("GatewayUpstream");

const HistoryEntrySchema = z
  .object({
    at: z.string().openapi({ example: "2025-01-31T12:00:00.000Z" }),
    who: z.string().openapi({ description: "The operator token's `sub`", example: "alice" }),
    what: z.enum(["seed", "weights", "state", "write-owner", "write-hold", "shadow"]),
    from: z.unknown().openapi({ example: { monolith: 100, validation: 0 } }),
    to: z.unknown().openapi({ example: { monolith: 90, validation: 10 } }),
    why: z.string().nullable().openapi({ example: "canary step 1" }),
  })
  .openapi("GatewayHistoryEntry");

export const RouteSchema = z
  .object({
    id: z.string().openapi({ example: "validation" }),
    prefixes: z.array(z.string()).openapi({ example: ["/api/files", "/api/validations"] }),
    methods: z.union([z.array(z.string()), z.literal("*")]),
    upstreams: z.array(UpstreamSchema),
    state: z.enum(["active", "inactive"]),
    writeOwner: z.string().openapi({ example: "monolith" }),
    writes: z.enum(["owner", "owner-per-request", "stateless"]),
    gate: z
      .object({
        script: z.string().openapi({ example: "loadtests/validation.js" }),
        roles: z.array(z.string()).openapi({
          description: "Roles of the gate token `bun run promote` mints: what the journey needs",
          example: ["editor", "gate"],
        }),
        tenant: z.string().openapi({ description: "Tenant of the gate token", example: "fig" }),
      })
      .nullable()
      .openapi({
        description: "The route's load gate (`bun run promote`): its script and the token it needs",
      }),
    policies: z
      .record(z.string(), z.unknown())
      .openapi({ description: "Auth, rate limit, timeout, retries, breaker, read fallback, shadow" }),
    revision: z
      .number()
      .int()
      .openapi({ description: "KV revision; send as `If-Match` to change", example: 7 }),
    updatedAt: z.string(),
    updatedBy: z.string(),
  })
  .openapi("GatewayRoute");

const RouteListSchema = z
  .object({
    routes: z.array(RouteSchema),
    state: z
      .object({
        source: z.enum(["nats-kv", "memory"]),
        loaded: z.boolean(),
        staleSince: z.string().nullable(),
        bucket: z.string().optional(),
      })
      .openapi({ description: "Where the live state comes from and whether it is current" }),
  })
  .openapi("GatewayRouteList");

const HistorySchema = z
  .object({ id: z.string(), history: z.array(HistoryEntrySchema) })
  .openapi("GatewayRouteHistory");

const IdParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" }, example: "validation" }),
});
const IfMatch = z.object({
  "if-match": z
    .string()
    .optional()
    .openapi({ description: "Apply only if the route is still at this revision (its ETag)", example: '"7"' }),
});
const reason = z
  .string()
  .max(500)
  .optional()
  .openapi({ description: "Why: recorded in the history", example: "canary step 1" });

export const WeightsBodySchema = z
  .object({
    weights: z.record(z.string(), z.unknown()).openapi({
      description: "Integer percent per upstream, summing to 100; left out means 0",
      example: { monolith: 90, validation: 10 },
    }),
    reason,
  })
  .openapi("GatewayWeightsChange");
const StateBodySchema = z
  .object({ state: z.enum(["active", "inactive"]).openapi({ example: "inactive" }), reason })
  .openapi("GatewayStateChange");
const WriteOwnerBodySchema = z
  .object({ writeOwner: z.string().min(1).openapi({ example: "validation" }), reason })
  .openapi("GatewayWriteOwnerChange");

const ETag = z.string().openapi({ description: "The route's revision", example: '"8"' });
const changed = {
  200: {
    description: "The route after the change",
    headers: z.object({ ETag }),
    content: jsonContent(RouteSchema),
  },
  ...errorResponses(400, 401, 403, 404, 412, 429, 503),
};

export const listRoutesRoute = createRoute({
  method: "get",
  path: "/routes",
  operationId: "listGatewayRoutes",
  tags: ADMIN_TAGS,
  summary: "List routes with their live weights, state and write owner",
  description:
    "Operators only (role operator in the operator tenant). `state` says whether the live state is current (NATS KV reachable).",
  security: bearerSecurity,
  responses: {
    200: { description: "Every route, the default one first", content: jsonContent(RouteListSchema) },
    ...errorResponses(401, 403, 429),
  },
});

export const putWeightsRoute = createRoute({
  method: "put",
  path: "/routes/{id}/weights",
  operationId: "setGatewayRouteWeights",
  tags: ADMIN_TAGS,
  summary: "Set a route's weights",
  description:
    "Operators only (role operator in the operator tenant). Every replica applies the change within about a second (NATS KV watch). Known upstreams, integers, sum 100. Recorded in the history.",
  security: bearerSecurity,
  request: {
    params: IdParams,
    headers: IfMatch,
    body: { required: true, content: jsonContent(WeightsBodySchema) },
  },
  responses: changed,
});

export const putStateRoute = createRoute({
  method: "put",
  path: "/routes/{id}/state",
  operationId: "setGatewayRouteState",
  tags: ADMIN_TAGS,
  summary: "Activate or deactivate a route (inactive sends everything to the monolith)",
  description: "Operators only (role operator in the operator tenant). Recorded in the history.",
  security: bearerSecurity,
  request: {
    params: IdParams,
    headers: IfMatch,
    body: { required: true, content: jsonContent(StateBodySchema) },
  },
  responses: changed,
});

export const putWriteOwnerRoute = createRoute({
  method: "put",
  path: "/routes/{id}/write-owner",
  operationId: "setGatewayRouteWriteOwner",
  tags: ADMIN_TAGS,
  summary: "Move a route's write ownership",
  description:
    "Operators only (role operator in the operator tenant). Non-safe methods go to the write owner whatever the weights (routes with `writes: owner`). Flip only after the data sync is verified. Recorded in the history.",
  security: bearerSecurity,
  request: {
    params: IdParams,
    headers: IfMatch,
    body: { required: true, content: jsonContent(WriteOwnerBodySchema) },
  },
  responses: changed,
});

export const historyRoute = createRoute({
  method: "get",
  path: "/routes/{id}/history",
  operationId: "getGatewayRouteHistory",
  tags: ADMIN_TAGS,
  summary: "A route's change history: who, when, from, to, why",
  description:
    "Operators only (role operator in the operator tenant). The latest 200 changes, oldest first; the seed from the route file is the first.",
  security: bearerSecurity,
  request: { params: IdParams },
  responses: {
    200: { description: "The history", content: jsonContent(HistorySchema) },
    ...errorResponses(401, 403, 404, 429),
  },
});

export type RouteStateAdminDeps = {
  table: RouteTable;
  store: RouteStateStore;
  breakers?: Breakers;
};

/** /_fig/routes: the routes with their live state, and the changes to a route, each recorded in its history; operators only (see guard.ts). */
export function routeStateRouter(deps: RouteStateAdminDeps) {
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

  return router;
}

/** The route revision an `If-Match` header names (its ETag), if any. */
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
