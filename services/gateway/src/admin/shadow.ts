import { AppError, bearerSecurity, createRouter, errorResponses, jsonContent } from "@fig/service";
import { createRoute } from "@hono/zod-openapi";
import type { Shadow } from "../policies/shadow/mirror.ts";
import { ShadowReportSchema } from "../policies/shadow/report.ts";
import { ADMIN_TAGS } from "./guard.ts";

export const shadowReportRoute = createRoute({
  method: "get",
  path: "/shadow",
  operationId: "getGatewayShadowReport",
  tags: ADMIN_TAGS,
  summary: "Shadow traffic: matches, mismatches, noise and recent diffs per route",
  description:
    "Operators only (role operator in the operator tenant). Mirrored GETs compared by status and JSON body (ignored paths left out); fields that differ between two answers of the primary itself are noise, not mismatches.",
  security: bearerSecurity,
  responses: {
    200: { description: "The shadow report", content: jsonContent(ShadowReportSchema) },
    ...errorResponses(401, 403, 404, 429),
  },
});

export type ShadowAdminDeps = {
  /** Without one (no shadow traffic configured) GET /_fig/shadow is 404. */
  shadow?: Shadow | undefined;
};

/** GET /_fig/shadow: operators only (see guard.ts). */
export function shadowRouter({ shadow }: ShadowAdminDeps) {
  const router = createRouter();
  router.openapi(shadowReportRoute, (c) => {
    if (!shadow) throw new AppError("not_found", "Shadow traffic is not configured");
    return c.json(shadow.snapshot(), 200);
  });
  return router;
}
