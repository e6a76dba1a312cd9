import { databaseChainSource, verifyChain } from "@fig/audit";
import { isOperator, requireAuth } from "@fig/auth";
import { AppError, createRouter } from "@fig/service";
import type { ServiceDeps } from "../../deps.ts";
import { listEntries } from "../../domain/entries.ts";
import { listEntriesRoute, verifyRoute } from "./routes.ts";

/** /api/audit: the log, for operators only (a tenant's admin never reads other tenants' acts). */
export function auditRouter({ db, verifier, operatorTenant }: ServiceDeps) {
  const router = createRouter();
  router.use("*", requireAuth(verifier));
  router.use("*", async function requireOperator(c, next) {
    if (!isOperator(c.get("auth"), operatorTenant))
      throw new AppError("forbidden", `Operators only: role operator in tenant ${operatorTenant}`);
    await next();
  });

  router.openapi(listEntriesRoute, async (c) => c.json(await listEntries(db, c.req.valid("query")), 200));

  router.openapi(verifyRoute, async (c) => {
    const result = await verifyChain(databaseChainSource(db));
    if (result.ok) return c.json({ ok: true, count: result.count }, 200);
    const { seq, problem, detail } = result;
    return c.json({ ok: false, seq, problem, detail }, 200);
  });

  return router;
}
