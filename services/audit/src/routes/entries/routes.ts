import { AuditEntryPageSchema, AuditQuerySchema, AuditVerificationSchema } from "@fig/audit/contract";
import { bearerSecurity, errorResponses, jsonContent } from "@fig/service";
import { createRoute } from "@hono/zod-openapi";

const tags = ["Audit"];

export const listEntriesRoute = createRoute({
  method: "get",
  path: "/entries",
  operationId: "listAuditEntries",
  tags,
  summary: "Read the audit log, newest first",
  description: "Operators only (role `operator` in the operator tenant).",
  security: bearerSecurity,
  request: { query: AuditQuerySchema },
  responses: {
    200: { description: "A page of entries", content: jsonContent(AuditEntryPageSchema) },
    ...errorResponses(400, 401, 403),
  },
});

export const verifyRoute = createRoute({
  method: "get",
  path: "/verify",
  operationId: "verifyAuditChain",
  tags,
  summary: "Recompute the chain and name the first entry changed, removed or reordered",
  description: "Operators only. What `bun run audit verify` does, from the service's own database.",
  security: bearerSecurity,
  responses: {
    200: {
      description: "The chain checks out, or the first entry that does not",
      content: jsonContent(AuditVerificationSchema),
    },
    ...errorResponses(401, 403),
  },
});
