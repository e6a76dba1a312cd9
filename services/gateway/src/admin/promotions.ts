import { pauseRoute, type RouteControl, resumeLive, rollbackRoute } from "@fig/promote/commands";
import {
  PromotionListSchema,
  type PromotionStore,
  type PromotionView,
  PromotionViewSchema,
  viewOf,
} from "@fig/promote/records";
import {
  AppError,
  bearerSecurity,
  createRouter,
  DomainError,
  errorResponses,
  jsonContent,
} from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { RoutePolicies, RouteTable } from "../routes.ts";
import { type RouteStateStore, StateUnavailableError, UnknownRouteError } from "../state/types.ts";
import { completeWeights } from "../state/validate.ts";
import { ADMIN_TAGS } from "./guard.ts";

/** Reads promotions from packages/promote's KV bucket (the same records `bun run promote status` shows). */
export type PromotionsReader = {
  bucket: string;
  list(route?: string): Promise<PromotionView[]>;
  /** The records themselves, for pause / resume / rollback (`POST /_fig/promotions/{route}/…`); 404 without. */
  store?: PromotionStore;
};

export const listPromotionsRoute = createRoute({
  method: "get",
  path: "/promotions",
  operationId: "listGatewayPromotions",
  tags: ADMIN_TAGS,
  summary: "Promotions: the latest of every route, or every promotion of one route",
  description:
    "Operators only (role operator in the operator tenant). Each record carries every decision with the numbers behind it (p95, error rate, request count, thresholds, engine). " +
    "`effectiveState` is `paused` for a promotion whose process died mid-step, with the weights it holds.",
  security: bearerSecurity,
  request: {
    query: z.object({
      route: z.string().max(64).optional().openapi({
        description: "Only this route, every promotion of it (oldest first)",
        example: "reference-data",
      }),
    }),
  },
  responses: {
    200: { description: "Promotions", content: jsonContent(PromotionListSchema) },
    ...errorResponses(400, 401, 403, 404, 429, 503),
  },
});

const RouteParams = z.object({
  route: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "route", in: "path" }, example: "reference-data" }),
});

const ActionBody = z
  .object({
    reason: z.string().max(500).optional().openapi({
      description: "Why: recorded in the promotion's events (and the route's history) with the token's `sub`",
      example: "p95 creeping up on the dashboard",
    }),
  })
  .openapi("GatewayPromotionAction");

const ActionResultSchema = z
  .object({
    route: z.string().openapi({ example: "reference-data" }),
    action: z.enum(["pause", "resume", "rollback"]),
    actor: z.string().openapi({ description: "The token's `sub`", example: "alice" }),
    weights: z
      .record(z.string(), z.number().int())
      .nullable()
      .openapi({
        description: "The weights set (rollback)",
        example: { monolith: 100, "reference-data": 0 },
      }),
    promotion: PromotionViewSchema.nullable().openapi({
      description: "The promotion after the change; null when the route was never promoted (rollback only)",
    }),
  })
  .openapi("GatewayPromotionActionResult");

const ACTIONS = {
  pause: {
    operationId: "pauseGatewayPromotion",
    summary: "Pause a route's running promotion (`bun run promote pause <route>`)",
    description:
      "Operators only (role operator in the operator tenant). The running promote process holds its weights after the current window (that window is measured again on resume). " +
      "422 when the route's latest promotion is not running or paused.",
  },
  resume: {
    operationId: "resumeGatewayPromotion",
    summary: "Resume a paused promotion whose promote process is still running",
    description:
      "Operators only (role operator in the operator tenant). Asks the live promote process that holds the route's lock to go on (`bun run promote resume <route>` does the same). " +
      "The gateway does not run load gates itself: when no live process holds the promotion (it was interrupted, or its process died), " +
      "this answers 422 and the promotion is resumed from a terminal with `bun run promote resume <route>`, which drives the remaining steps.",
  },
  rollback: {
    operationId: "rollbackGatewayPromotion",
    summary: "Roll back a route: 100 % to the stable upstream at once (`bun run promote rollback <route>`)",
    description:
      "Operators only (role operator in the operator tenant). Sets the weights without If-Match (a rollback must win), records the promotion as rolled back with the reason and actor, " +
      "and the running promote process, if any, stops at its next heartbeat. The route can be promoted again with a plain new promote.",
  },
} as const;

const actionRoute = (action: keyof typeof ACTIONS) =>
  createRoute({
    method: "post",
    path: `/promotions/{route}/${action}`,
    ...ACTIONS[action],
    tags: ADMIN_TAGS,
    security: bearerSecurity,
    request: { params: RouteParams, body: { required: true, content: jsonContent(ActionBody) } },
    responses: {
      200: { description: "Done", content: jsonContent(ActionResultSchema) },
      ...errorResponses(400, 401, 403, 404, 422, 429, 503),
    },
  });

export const pausePromotionRoute = actionRoute("pause");
export const resumePromotionRoute = actionRoute("resume");
export const rollbackPromotionRoute = actionRoute("rollback");

const ShadowPercentBody = z
  .object({
    percent: z.number().int().min(0).max(100).nullable().openapi({
      description: "Share of the route's GETs mirrored to its shadow candidate; null returns to routes.ts",
      example: 100,
    }),
    reason: z.string().max(500).optional().openapi({ example: "promotion shadow step" }),
  })
  .openapi("GatewayShadowPercentChange");

const ShadowPercentSchema = z
  .object({
    route: z.string().openapi({ example: "reference-data" }),
    candidate: z.string().openapi({ example: "reference-data" }),
    percent: z.number().int().openapi({ description: "The share mirrored now", example: 100 }),
    revision: z.number().int(),
  })
  .openapi("GatewayShadowPercent");

export const putShadowPercentRoute = createRoute({
  method: "put",
  path: "/routes/{id}/shadow",
  operationId: "setGatewayRouteShadowPercent",
  tags: ADMIN_TAGS,
  summary: "Set the share of a route's GETs mirrored to its shadow candidate",
  description:
    "Operators only (role operator in the operator tenant). Mirrored GETs are compared at `GET /_fig/shadow`; the client's answer never changes. Recorded in the history.",
  security: bearerSecurity,
  request: {
    params: z.object({
      id: z.string().openapi({ param: { name: "id", in: "path" }, example: "reference-data" }),
    }),
    body: { required: true, content: jsonContent(ShadowPercentBody) },
  },
  responses: {
    200: { description: "The route's shadow share", content: jsonContent(ShadowPercentSchema) },
    ...errorResponses(400, 401, 403, 404, 429, 503),
  },
});

export type PromotionsAdminDeps = {
  table: RouteTable;
  store: RouteStateStore;
  promotions?: PromotionsReader | undefined;
};

/** GET /_fig/promotions, their actions and PUT /_fig/routes/{id}/shadow: operators only (see guard.ts). */
export function promotionsRouter({ table, store, promotions }: PromotionsAdminDeps) {
  const router = createRouter();

  router.openapi(listPromotionsRoute, async (c) => {
    if (!promotions) throw new AppError("not_found", "Promotions are not configured (no NATS KV)");
    const { route } = c.req.valid("query");
    try {
      return c.json({ bucket: promotions.bucket, promotions: await promotions.list(route) }, 200);
    } catch (error) {
      throw new AppError("not_ready", `Promotions cannot be read from NATS KV: ${(error as Error).message}`);
    }
  });

  // The same functions as `bun run promote pause|resume|rollback <route>`, with the token's sub as the actor.
  const control = (c: Context) => {
    const { route } = c.req.param() as { route: string };
    if (!table.routes.some((r) => r.id === route))
      throw new AppError(
        "not_found",
        `No route ${route}; routes are ${table.routes.map((r) => r.id).join(", ")}`,
      );
    if (!promotions?.store)
      throw new AppError("not_found", "Promotion actions are not configured (no NATS KV)");
    return { route, records: promotions.store, actor: c.get("auth")?.sub ?? "unknown" };
  };
  router.openapi(pausePromotionRoute, async (c) => {
    const { route, records, actor } = control(c);
    const { reason } = c.req.valid("json");
    await kvOr503(() => pauseRoute({ store: records, route, actor, reason }));
    return c.json(
      { route, action: "pause" as const, actor, weights: null, promotion: await latestView(records, route) },
      200,
    );
  });
  router.openapi(resumePromotionRoute, async (c) => {
    const { route, records, actor } = control(c);
    const { reason } = c.req.valid("json");
    const resumed = await kvOr503(() => resumeLive({ store: records, route, actor, reason }));
    if (!resumed.live)
      throw new AppError(
        "unprocessable",
        `No live promote process holds promotion ${resumed.stored.value.id} of ${route} (it was interrupted or its process stopped); ` +
          `the gateway does not run load gates: resume it from a terminal with bun run promote resume ${route}`,
      );
    return c.json(
      { route, action: "resume" as const, actor, weights: null, promotion: await latestView(records, route) },
      200,
    );
  });
  router.openapi(rollbackPromotionRoute, async (c) => {
    const { route, records, actor } = control(c);
    const { reason } = c.req.valid("json");
    const { weights } = await kvOr503(() =>
      rollbackRoute({ store: records, gateway: routeControl(table, store, actor), route, actor, reason }),
    );
    return c.json(
      { route, action: "rollback" as const, actor, weights, promotion: await latestView(records, route) },
      200,
    );
  });

  router.openapi(putShadowPercentRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { percent, reason } = c.req.valid("json");
    const route = table.routes.find((r) => r.id === id);
    if (!route) throw new AppError("not_found", `No route ${id}`);
    const policy = route.policies.shadow;
    if (!policy) throw new AppError("validation", `Route ${id} has no shadow candidate in routes.ts`);
    try {
      const live = await store.change(
        id,
        { kind: "shadow", percent },
        { who: c.get("auth")?.sub ?? "unknown", why: reason ?? null },
      );
      return c.json(
        {
          route: id,
          candidate: policy.candidate,
          percent: live.shadowPercent ?? policy.percent,
          revision: live.revision,
        },
        200,
      );
    } catch (error) {
      if (error instanceof UnknownRouteError) throw new AppError("not_found", error.message);
      if (error instanceof StateUnavailableError) throw new AppError("not_ready", error.message);
      throw error;
    }
  });

  return router;
}

/** The latest promotion of a route as `promote status` shows it (null when never promoted). */
async function latestView(records: PromotionStore, route: string): Promise<PromotionView | null> {
  const latest = await records.latest(route);
  if (!latest) return null;
  return viewOf(latest.value, (await records.readLock(route))?.value ?? null);
}

/** NATS KV failures as 503; the commands' own refusals (DomainError, AppError) pass through as they are. */
async function kvOr503<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof AppError || error instanceof DomainError) throw error;
    if (error instanceof UnknownRouteError) throw new AppError("not_found", error.message);
    if (error instanceof StateUnavailableError) throw new AppError("not_ready", error.message);
    throw new AppError("not_ready", `Promotions cannot be changed in NATS KV: ${(error as Error).message}`);
  }
}

/** The gateway's own route state as the promote commands see it (the CLI goes through HTTP instead). */
function routeControl(table: RouteTable, store: RouteStateStore, actor: string): RouteControl {
  const definition = (id: string) => {
    const found = table.routes.find((r) => r.id === id);
    if (!found) throw new AppError("not_found", `No route ${id}`);
    return found;
  };
  return {
    async route(id) {
      const route = definition(id);
      const live = store.get(id);
      return {
        id,
        upstreams: route.upstreams.map((u) => ({ name: u.name, weight: live?.weights[u.name] ?? 0 })),
        state: live?.state ?? route.state,
        revision: live?.revision ?? 0,
        gate: route.gate ?? null,
      };
    },
    async setWeights(id, weights, why) {
      const live = await store.change(
        id,
        { kind: "weights", weights: completeWeights(definition(id), weights) },
        { who: actor, why: why.slice(0, 500) },
      );
      return live.revision;
    },
  };
}

/** The route with its live shadow share (a promotion's shadow step), for the proxy's mirror hook. */
export function withLiveShadow<R extends { policies: RoutePolicies }>(
  route: R,
  live: { shadowPercent?: number | null } | undefined,
): R {
  const percent = live?.shadowPercent;
  const policy = route.policies.shadow;
  if (percent === null || percent === undefined || !policy || policy.percent === percent) return route;
  return { ...route, policies: { ...route.policies, shadow: { ...policy, percent } } };
}
