import { AuditEntryPageSchema, AuditQuerySchema, AuditVerificationSchema } from "@fig/audit/contract";
import { AppError, bearerSecurity, createRouter, errorResponses, jsonContent } from "@fig/service";
import { createRoute } from "@hono/zod-openapi";
import type { Context } from "hono";
import { ADMIN_TAGS } from "./guard.ts";

export const auditEntriesRoute = createRoute({
  method: "get",
  path: "/audit",
  operationId: "getGatewayAudit",
  tags: ADMIN_TAGS,
  summary: "The audit log: every control-plane change and identity event, newest first",
  description:
    "Operators only. Read from the audit service (filters: actor, route, kind, from/to time; cursor pages). Entries are hash-chained: GET /_fig/audit/verify recomputes the chain.",
  security: bearerSecurity,
  request: { query: AuditQuerySchema },
  responses: {
    200: { description: "A page of entries", content: jsonContent(AuditEntryPageSchema) },
    ...errorResponses(400, 401, 403, 429, 502, 503),
  },
});

export const auditVerifyRoute = createRoute({
  method: "get",
  path: "/audit/verify",
  operationId: "verifyGatewayAudit",
  tags: ADMIN_TAGS,
  summary: "Recompute the audit chain and name the first entry changed, removed or reordered",
  description: "Operators only. Answered by the audit service (as `bun run audit verify`).",
  security: bearerSecurity,
  responses: {
    200: { description: "The verification", content: jsonContent(AuditVerificationSchema) },
    ...errorResponses(401, 403, 429, 502, 503),
  },
});

export type AuditAdminDeps = {
  /** The audit service's base URL (the route file's `audit` upstream); without it /_fig/audit is 503. */
  url?: string | undefined;
  fetch?: (request: Request) => Promise<Response>;
};

/**
 * GET /_fig/audit and /_fig/audit/verify: operators only (see guard.ts), forwarded with the caller's own token
 * to the audit service, which checks it again (it trusts no one's word for who the caller is).
 */
export function auditRouter({ url, fetch = (request) => globalThis.fetch(request) }: AuditAdminDeps) {
  const router = createRouter();

  async function forward(c: Context, path: string) {
    if (!url)
      throw new AppError("not_ready", "No audit service is configured (the route file's `audit` upstream)");
    const search = new URL(c.req.url).search;
    const headers = new Headers({ accept: "application/json" });
    const authorization = c.req.header("authorization");
    if (authorization) headers.set("authorization", authorization);
    let response: Response;
    try {
      response = await fetch(new Request(`${url.replace(/\/$/, "")}${path}${search}`, { headers }));
    } catch (error) {
      throw new AppError("not_ready", `The audit service is unreachable: ${(error as Error).message}`);
    }
    if (response.status >= 500)
      throw new AppError("bad_gateway", `The audit service answered ${response.status}`);
    // 200, or its own 4xx problem (a bad filter names the field): passed on as it came.
    return new Response(response.body, { status: response.status, headers: response.headers });
  }

  router.openapi(auditEntriesRoute, (c) => forward(c, "/api/audit/entries") as never);
  router.openapi(auditVerifyRoute, (c) => forward(c, "/api/audit/verify") as never);
  return router;
}
