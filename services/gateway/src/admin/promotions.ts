import type { TokenVerifier } from "@fig/auth";
import { PromotionListSchema, type PromotionView } from "@fig/promote/records";
import { AppError, createRouter, errorResponses } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { authorize, identify } from "../policies/auth.ts";
import { limitFor, type RateLimiter, rateLimitHeaders } from "../policies/rate-limit.ts";
import type { RoutePolicies, RouteTable } from "../routes.ts";
import { type RouteStateStore, StateUnavailableError, UnknownRouteError } from "../state/types.ts";

/** Reads promotions from packages/promote's KV bucket (the same records `bun run promote status` shows). */
export type PromotionsReader = {
  bucket: string;
  list(route?: string): Promise<PromotionView[]>;
};

const json = <S extends z.ZodType>(schema: S) => ({ "application/json": { schema } });
const security = [{ bearerAuth: [] }];
const tags = ["Gateway admin"];

export const listPromotionsRoute = createRoute({
  method: "get",
  path: "/promotions",
  operationId: "listGatewayPromotions",
  tags,
  summary: "Promotions: the latest of every route, or every promotion of one route",
  description:
    "Requires role admin. Each record carries every decision with the numbers behind it (p95, error rate, request count, thresholds, engine). " +
    "`effectiveState` is `paused` for a promotion whose process died mid-step, with the weights it holds.",
  security,
  request: {
    query: z.object({
      route: z
        .string()
        .max(64)
        .optional()
        .openapi({
          description: "Only this route, every promotion of it (oldest first)",
          example: "reference-data",
        }),
    }),
  },
  responses: {
    200: { description: "Promotions", content: json(PromotionListSchema) },
    ...errorResponses(400, 401, 403, 404, 429, 503),
  },
});

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
  tags,
  summary: "Set the share of a route's GETs mirrored to its shadow candidate",
  description:
    "Requires role admin. Mirrored GETs are compared at `GET /_fig/shadow`; the client's answer never changes. Recorded in the history.",
  security,
  request: {
    params: z.object({
      id: z.string().openapi({ param: { name: "id", in: "path" }, example: "reference-data" }),
    }),
    body: { required: true, content: json(ShadowPercentBody) },
  },
  responses: {
    200: { description: "The route's shadow share", content: json(ShadowPercentSchema) },
    ...errorResponses(400, 401, 403, 404, 429, 503),
  },
});

export type PromotionsAdminDeps = {
  table: RouteTable;
  store: RouteStateStore;
  promotions?: PromotionsReader | undefined;
  verifier: TokenVerifier;
  limiter: RateLimiter;
  rateLimit: RoutePolicies["rateLimit"];
  clientIp: (c: Context) => string | undefined;
};

/** GET /_fig/promotions and PUT /_fig/routes/{id}/shadow: role admin, rate-limited like the rest of /_fig. */
export function promotionsRouter(deps: PromotionsAdminDeps) {
  const { table, store, promotions, verifier, limiter, rateLimit, clientIp } = deps;
  const router = createRouter();
  // Scoped to its own paths: a "*" guard here would run again for every other /_fig route.
  const guard = async function promotionsGuard(c: Context, next: () => Promise<void>) {
    const identity = await identify(verifier, c.req.header("authorization"));
    const claims = identity.kind === "token" ? identity.claims : undefined;
    const decision = limiter.take(
      "_fig",
      claims?.sub ?? clientIp(c) ?? "unknown",
      limitFor(rateLimit, claims?.roles),
    );
    const headers = rateLimitHeaders(decision);
    for (const name in headers) c.header(name, headers[name]);
    if (!decision.allowed)
      throw new AppError("rate_limited", `Rate limit of ${decision.limit} requests per minute`);
    const verified = authorize({ read: "admin", write: "admin" }, c.req.method, identity);
    if (verified) c.set("auth", verified);
    await next();
  };
  router.use("/promotions", guard);
  router.use("/routes/:id/shadow", guard);

  router.openapi(listPromotionsRoute, async (c) => {
    if (!promotions) throw new AppError("not_found", "Promotions are not configured (no NATS KV)");
    const { route } = c.req.valid("query");
    try {
      return c.json({ bucket: promotions.bucket, promotions: await promotions.list(route) }, 200);
    } catch (error) {
      throw new AppError("not_ready", `Promotions cannot be read from NATS KV: ${(error as Error).message}`);
    }
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
