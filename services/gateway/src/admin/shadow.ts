import { AppError, bearerSecurity, createRouter, errorResponses, jsonContent } from "@fig/service";
import { createRoute } from "@hono/zod-openapi";
import { mergeShadowReports, type ProcessGroup } from "../cluster-share.ts";
import type { Shadow } from "../policies/shadow/mirror.ts";
import { type ShadowReport, ShadowReportSchema } from "../policies/shadow/report.ts";
import { ADMIN_TAGS } from "./guard.ts";
import { ProcessesSchema } from "./processes.ts";

const GatewayShadowReportSchema = ShadowReportSchema.extend({
  processes: ProcessesSchema.optional().openapi({
    description:
      "With FIG_GATEWAY_PROCESSES > 1: the report sums every process's figures; this says how many answered",
  }),
}).openapi("GatewayShadowReport");

export const shadowReportRoute = createRoute({
  method: "get",
  path: "/shadow",
  operationId: "getGatewayShadowReport",
  tags: ADMIN_TAGS,
  summary: "Shadow traffic: matches, mismatches, noise and recent diffs per route",
  description:
    "Operators only (role operator in the operator tenant). Mirrored GETs compared by status and JSON body (ignored paths left out); fields that differ between two answers of the primary itself are noise, not mismatches. " +
    "With N gateway processes on one port, whichever answers gives all N's figures (`processes`).",
  security: bearerSecurity,
  responses: {
    200: { description: "The shadow report", content: jsonContent(GatewayShadowReportSchema) },
    ...errorResponses(401, 403, 404, 429),
  },
});

export type ShadowAdminDeps = {
  /** Without one (no shadow traffic configured) GET /_fig/shadow is 404. */
  shadow?: Shadow | undefined;
  /**
   * The N processes sharing the port (cluster-share.ts): each answers with its own snapshot, and the report
   * sums every process's; without it, this process's own.
   */
  group?: ProcessGroup | undefined;
};

/** GET /_fig/shadow: operators only (see guard.ts). */
export function shadowRouter({ shadow, group }: ShadowAdminDeps) {
  const router = createRouter();
  const snapshot = () => shadow?.snapshot() ?? { queue: { max: 0, outstanding: 0 }, routes: [] };
  group?.answer<ShadowReport>("shadow", snapshot);
  router.openapi(shadowReportRoute, async (c) => {
    if (!shadow) throw new AppError("not_found", "Shadow traffic is not configured");
    if (!group) return c.json(shadow.snapshot(), 200);
    const { shares, processes } = await group.ask("shadow", "", snapshot);
    return c.json({ ...mergeShadowReports(shares), processes }, 200);
  });
  return router;
}
