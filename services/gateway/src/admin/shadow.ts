import { AppError, bearerSecurity, createRouter, errorResponses, jsonContent } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import type { ProcessCoverage } from "../cluster-share.ts";
import type { Shadow } from "../policies/shadow/mirror.ts";
import { type ShadowReport, ShadowReportSchema } from "../policies/shadow/report.ts";
import { ADMIN_TAGS } from "./guard.ts";

const GatewayShadowReportSchema = ShadowReportSchema.extend({
  processes: z
    .object({
      of: z.number().int().openapi({ description: "Gateway processes sharing the port", example: 2 }),
      answered: z.number().int().openapi({
        description: "Processes whose figures the report holds (fewer: one did not answer)",
        example: 2,
      }),
    })
    .optional()
    .openapi({
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
   * The report of every process sharing the port (cluster-share.ts `shadowShare`), given this one's snapshot;
   * without it, this process's own.
   */
  report?:
    | ((local: () => ShadowReport) => Promise<ShadowReport & { processes: ProcessCoverage }>)
    | undefined;
};

/** GET /_fig/shadow: operators only (see guard.ts). */
export function shadowRouter({ shadow, report }: ShadowAdminDeps) {
  const router = createRouter();
  router.openapi(shadowReportRoute, async (c) => {
    if (!shadow) throw new AppError("not_found", "Shadow traffic is not configured");
    return c.json(report ? await report(() => shadow.snapshot()) : shadow.snapshot(), 200);
  });
  return router;
}
