import { requireAuth, requireRole } from "@fig/auth";
import { createRouter } from "@fig/service";
import { stringify } from "csv-stringify/sync";
import { streamSSE } from "hono/streaming";
import type { ModuleDeps } from "../../deps.ts";
import {
  eventsRoute,
  getRunRoute,
  listResultsRoute,
  listRunsRoute,
  resultsCsvRoute,
  validateNowRoute,
} from "./routes.ts";
import { allFindings, getRun, listFindings, listRuns, presentRun } from "./store.ts";
import { validateNow } from "./validate.ts";

/** /api/validations: the validation service's URLs and JSON, answered the legacy way (synchronously). */
export function validationsModule({ db, verifier }: ModuleDeps) {
  const router = createRouter();
  router.use("*", requireAuth(verifier));
  router.on(["POST"], "/", requireRole("editor"));
  router.on(["GET"], "*", requireRole("viewer"));

  router.openapi(validateNowRoute, async (c) => {
    const auth = c.get("auth");
    const run = await validateNow(db, { tenant: auth.tenant, sub: auth.sub }, c.req.valid("json").fileId);
    c.header("location", `/api/validations/${run.id}`);
    return c.json(presentRun(run), 200);
  });

  router.openapi(listRunsRoute, async (c) =>
    c.json(await listRuns(db, c.get("auth").tenant, c.req.valid("query")), 200),
  );

  router.openapi(getRunRoute, async (c) => {
    const run = await getRun(db, c.get("auth").tenant, c.req.valid("param").id);
    return c.json(presentRun(run), 200);
  });

  router.openapi(listResultsRoute, async (c) => {
    const page = await listFindings(db, c.get("auth").tenant, c.req.valid("param").id, c.req.valid("query"));
    return c.json(page, 200);
  });

  router.openapi(resultsCsvRoute, async (c) => {
    const tenant = c.get("auth").tenant;
    const { id } = c.req.valid("param");
    await getRun(db, tenant, id);
    const rows = await allFindings(db, tenant, id, c.req.valid("query"));
    const csv = stringify([
      ["line", "rule_id", "severity", "column", "message"],
      ...rows.map((r) => [r.line, r.rule_id, r.severity, r.column ?? "", r.message]),
    ]);
    return c.body(csv, 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="validation-${id}-results.csv"`,
    });
  });

  // Monolith runs are finished by the time they exist: the stream is the one terminal event.
  router.openapi(eventsRoute, async (c) => {
    const run = presentRun(await getRun(db, c.get("auth").tenant, c.req.valid("param").id));
    return streamSSE(c, async (stream) => {
      await stream.writeSSE({
        event: run.status,
        data: JSON.stringify(run),
        id: String(run.progress.processedRows),
      });
    }) as never;
  });

  return router;
}
