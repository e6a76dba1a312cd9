import {
  createValidation,
  eventsRoute,
  getValidationRoute,
  listResultsRoute,
  listValidationsRoute,
  resultsCsvRoute,
} from "@dash/billing-validation";
import { requireAuth, requireRole } from "@fig/auth";
import { createRouter, traceparentOf } from "@fig/service";
import { stringify } from "csv-stringify/sync";
import { streamSSE } from "hono/streaming";
import type { ServiceDeps } from "../../deps.ts";
import {
  getValidation,
  listResults,
  listValidations,
  presentValidation,
  requestValidation,
  resultPages,
} from "../../domain/validations.ts";

/** How often the SSE stream looks for progress; the worker writes progress every N rows. */
const SSE_POLL_MS = 250;
const SSE_KEEPALIVE_MS = 5000;

export function validationsRouter({ db, verifier }: ServiceDeps) {
  const router = createRouter();
  router.use("*", requireAuth(verifier));
  router.on(["POST"], "/", requireRole("editor"));
  router.on(["GET"], "*", requireRole("viewer"));

  router.openapi(createValidation, async (c) => {
    const auth = c.get("auth");
    const caller = { tenant: auth.tenant, sub: auth.sub, traceparent: traceparentOf(c.get("span")) };
    const run = await requestValidation(db, caller, c.req.valid("json").fileId);
    c.header("location", `/api/validations/${run.id}`);
    return c.json({ validationId: run.id, status: "queued" as const }, 202);
  });

  router.openapi(listValidationsRoute, async (c) => {
    const page = await listValidations(db, c.get("auth").tenant, c.req.valid("query"));
    return c.json(page, 200);
  });

  router.openapi(getValidationRoute, async (c) => {
    const run = await getValidation(db, c.get("auth").tenant, c.req.valid("param").id);
    return c.json(presentValidation(run), 200);
  });

  router.openapi(listResultsRoute, async (c) => {
    const { limit, cursor, ...filters } = c.req.valid("query");
    const page = await listResults(db, c.get("auth").tenant, c.req.valid("param").id, {
      limit,
      cursor,
      ...filters,
    });
    return c.json(page, 200);
  });

  router.openapi(resultsCsvRoute, async (c) => {
    const tenant = c.get("auth").tenant;
    const { id } = c.req.valid("param");
    await getValidation(db, tenant, id); // 404 before the stream starts
    const pages = resultPages(db, tenant, id, c.req.valid("query"));
    const encoder = new TextEncoder();
    let headerSent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!headerSent) {
          headerSent = true;
          controller.enqueue(
            encoder.encode(stringify([["line", "rule_id", "severity", "column", "message"]])),
          );
          return;
        }
        const { value, done } = await pages.next();
        if (done) return controller.close();
        controller.enqueue(
          encoder.encode(
            stringify(value.map((r) => [r.line, r.rule_id, r.severity, r.column ?? "", r.message])),
          ),
        );
      },
      async cancel() {
        await pages.return(undefined);
      },
    });
    return c.body(body, 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="validation-${id}-results.csv"`,
    });
  });

  router.openapi(eventsRoute, async (c) => {
    const tenant = c.get("auth").tenant;
    const { id } = c.req.valid("param");
    await getValidation(db, tenant, id); // 404 before the stream starts
    return streamSSE(c, async (stream) => {
      let last = "";
      let closed = false;
      stream.onAbort(() => {
        closed = true;
      });
      let lastWrite = Date.now();
      while (!closed) {
        const run = presentValidation(await getValidation(db, tenant, id));
        const snapshot = JSON.stringify(run);
        if (snapshot === last && Date.now() - lastWrite > SSE_KEEPALIVE_MS) {
          // A comment line keeps proxies and the server's idle timeout from cutting a quiet stream.
          await stream.write(": keep-alive\n\n");
          lastWrite = Date.now();
        }
        if (snapshot !== last) {
          last = snapshot;
          lastWrite = Date.now();
          const terminal = run.status === "completed" || run.status === "failed";
          await stream.writeSSE({
            event: terminal ? run.status : "progress",
            data: snapshot,
            id: String(run.progress.processedRows),
          });
          if (terminal) return;
        }
        await stream.sleep(SSE_POLL_MS);
      }
    }) as never;
  });

  return router;
}
