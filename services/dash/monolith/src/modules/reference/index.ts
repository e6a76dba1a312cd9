import { REFERENCE_SPECS, referenceRouter } from "@dash/reference";
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { ModuleDeps } from "../../deps.ts";
import { recordMonolithReferenceChanged } from "../../events.ts";

/**
 * The legacy admin module: codes, contexts, establishments and rules under reference-data's contract (the
 * same routes, store and CSV codec from @dash/reference), in the monolith's own tables and outbox.
 */
export function mountReferenceModule(app: OpenAPIHono, { db, verifier }: ModuleDeps) {
  const deps = { db, verifier, recordChange: recordMonolithReferenceChanged };
  for (const spec of REFERENCE_SPECS) app.route(`/api/${spec.resource}`, referenceRouter(spec, deps));
}
