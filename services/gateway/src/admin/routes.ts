import { errorResponses } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import { ShadowReportSchema } from "../policies/shadow/report.ts";

const security = [{ bearerAuth: [] }];
const tags = ["Gateway admin"];
const json = <S extends z.ZodType>(schema: S) => ({ "application/json": { schema } });

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
    who: z.string().openapi({ description: "The admin token's `sub`", example: "alice" }),
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
  200: { description: "The route after the change", headers: z.object({ ETag }), content: json(RouteSchema) },
  ...errorResponses(400, 401, 403, 404, 412, 429, 503),
};

export const listRoutesRoute = createRoute({
  method: "get",
  path: "/routes",
  operationId: "listGatewayRoutes",
  tags,
  summary: "List routes with their live weights, state and write owner",
  description: "Requires role admin. `state` says whether the live state is current (NATS KV reachable).",
  security,
  responses: {
    200: { description: "Every route, the default one first", content: json(RouteListSchema) },
    ...errorResponses(401, 403, 429),
  },
});

export const putWeightsRoute = createRoute({
  method: "put",
  path: "/routes/{id}/weights",
  operationId: "setGatewayRouteWeights",
  tags,
  summary: "Set a route's weights",
  description:
    "Requires role admin. Every replica applies the change within about a second (NATS KV watch). Known upstreams, integers, sum 100. Recorded in the history.",
  security,
  request: { params: IdParams, headers: IfMatch, body: { required: true, content: json(WeightsBodySchema) } },
  responses: changed,
});

export const putStateRoute = createRoute({
  method: "put",
  path: "/routes/{id}/state",
  operationId: "setGatewayRouteState",
  tags,
  summary: "Activate or deactivate a route (inactive sends everything to the monolith)",
  description: "Requires role admin. Recorded in the history.",
  security,
  request: { params: IdParams, headers: IfMatch, body: { required: true, content: json(StateBodySchema) } },
  responses: changed,
});

export const putWriteOwnerRoute = createRoute({
  method: "put",
  path: "/routes/{id}/write-owner",
  operationId: "setGatewayRouteWriteOwner",
  tags,
  summary: "Move a route's write ownership",
  description:
    "Requires role admin. Non-safe methods go to the write owner whatever the weights (routes with `writes: owner`). Flip only after the data sync is verified. Recorded in the history.",
  security,
  request: {
    params: IdParams,
    headers: IfMatch,
    body: { required: true, content: json(WriteOwnerBodySchema) },
  },
  responses: changed,
});

export const historyRoute = createRoute({
  method: "get",
  path: "/routes/{id}/history",
  operationId: "getGatewayRouteHistory",
  tags,
  summary: "A route's change history: who, when, from, to, why",
  description:
    "Requires role admin. The latest 200 changes, oldest first; the seed from routes.ts is the first.",
  security,
  request: { params: IdParams },
  responses: {
    200: { description: "The history", content: json(HistorySchema) },
    ...errorResponses(401, 403, 404, 429),
  },
});

export const shadowReportRoute = createRoute({
  method: "get",
  path: "/shadow",
  operationId: "getGatewayShadowReport",
  tags,
  summary: "Shadow traffic: matches, mismatches, noise and recent diffs per route",
  description:
    "Requires role admin. Mirrored GETs compared by status and JSON body (ignored paths left out); fields that differ between two answers of the primary itself are noise, not mismatches.",
  security,
  responses: {
    200: { description: "The shadow report", content: json(ShadowReportSchema) },
    ...errorResponses(401, 403, 404, 429),
  },
});
