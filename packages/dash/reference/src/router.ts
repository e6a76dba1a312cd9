import { requireAuth, requireRole, requireScope, type TokenVerifier } from "@fig/auth";
import type { Database } from "@fig/db";
import { AppError, createRouter, traceparentOf } from "@fig/service";
import type { Context } from "hono";
import { etag } from "hono/etag";
import type { RecordChange } from "./changes.ts";
import { exportCsv, importCsv } from "./csv.ts";
import type { ReferenceReadCache } from "./read-cache.ts";
import type { ResourceSpec, Row } from "./resource.ts";
import { referenceRoutes } from "./routes.ts";
import {
  createRecord,
  deleteRecord,
  etagOf,
  getRecord,
  listRecords,
  StaleWriteError,
  updateRecord,
} from "./store.ts";

// The routes are built from a runtime spec, so their input types are erased; read validated input as rows.
function valid<T = Row>(c: { req: unknown }, target: "query" | "json"): T {
  return (c.req as { valid(t: string): T }).valid(target);
}

/**
 * `recordChange` is the service's own event for a write (see `referenceChangeRecorder`); `cache`, when given,
 * answers GET of one record from memory (see `createReferenceReadCache`; its feed keeps it current).
 */
export type ReferenceDeps = {
  db: Database;
  verifier: TokenVerifier;
  recordChange: RecordChange;
  cache?: ReferenceReadCache | undefined;
};

// Reference data is behind auth, so shared caches must not keep it; clients revalidate with the ETag.
const CACHE_CONTROL = "private, no-cache";

/** RFC 9110 §13.1.2: `*`, or any listed tag equal under weak comparison (our tags are strong). */
function etagMatches(etag: string, ifNoneMatch: string | undefined): boolean {
  if (ifNoneMatch === undefined) return false;
  if (ifNoneMatch.trim() === "*") return true;
  return ifNoneMatch.match(/"[^"]*"/g)?.includes(etag) ?? false;
}

const utf8 = new TextEncoder();

const answerHeaders = (etag: string) => ({
  "content-type": "application/json",
  etag,
  "cache-control": CACHE_CONTROL,
});

/**
 * A router serving one reference table (mount it at `/api/<resource>`): thin adapters from HTTP to the
 * store verbs, under the routes of `referenceRoutes(spec)`.
 *
 * @example
 * app.route("/api/codes", referenceRouter(codesSpec, { db, verifier, recordChange: referenceChangeRecorder() }));
 */
export function referenceRouter(spec: ResourceSpec, { db, verifier, recordChange, cache }: ReferenceDeps) {
  const routes = referenceRoutes(spec);
  const router = createRouter();
  const ctx = (c: Context) => ({ db, recordChange, traceparent: traceparentOf(c.get("span")) });
  // This replica's own writes drop their keys at once (read-your-writes); the event does it on the others.
  const forget = (keys?: string[]) => cache?.invalidate(spec.resource, keys);
  router.use("*", requireAuth(verifier));
  router.on(["POST"], "/", requireRole("editor"));
  router.on(["POST"], "/import", requireRole("editor"));
  router.on(["PATCH"], "/:key", requireRole("editor"));
  router.on(["DELETE"], "/:key", requireRole("admin"));
  router.on(["GET"], "*", requireRole("viewer"));
  // The export is how other services copy the table: their service tokens need the scope for it.
  router.on(["GET"], "/export", requireScope("reference:export"));

  // Registered before `/{key}` so `export` is not read as a key.
  router.openapi(routes.export, (c) =>
    c.body(exportCsv(db, spec), 200, {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="${spec.resource}.csv"`,
    }),
  );

  router.openapi(routes.import, async (c) => {
    const type = c.req.header("content-type") ?? "";
    if (!/^text\/csv\b/i.test(type))
      throw new AppError(
        "unsupported_media_type",
        `Send the file as text/csv (got ${type || "no content type"})`,
      );
    if (!c.req.raw.body)
      throw new AppError("unprocessable", "The body is empty: expected a CSV file with a header row");
    const result = await importCsv(db, spec, c.req.raw.body, {
      recordChange,
      traceparent: traceparentOf(c.get("span")),
    });
    forget();
    c.get("logger").info({ resource: spec.resource, ...result }, "import committed");
    return c.json(result, 200);
  });

  router.use("/", etag());
  router.openapi(routes.list, async (c) => {
    const { limit, cursor, q, ...filters } = valid<{ limit: number; cursor?: string; q?: string } & Row>(
      c,
      "query",
    );
    if (!cache) {
      const page = await listRecords(ctx(c), spec, { limit, cursor, q, filters });
      c.header("cache-control", CACHE_CONTROL);
      return c.json(page as never, 200);
    }
    // Looked up once the query passed validation; the raw query string is the key.
    const query = c.req.url.slice(c.req.url.indexOf("?") + 1 || c.req.url.length);
    const hit = cache.getList(spec.resource, query);
    if (hit) return c.body(hit.body, 200, answerHeaders(hit.etag)) as never;
    const ticket = cache.ticket();
    const page = await listRecords(ctx(c), spec, { limit, cursor, q, filters });
    const body = utf8.encode(JSON.stringify(page));
    // Set here, as the ETag middleware would (a SHA-1 of the body), so a hit does not hash it again.
    const answer = { body, etag: `"${new Bun.CryptoHasher("sha1").update(body).digest("hex")}"` };
    cache.setList(spec.resource, query, answer, ticket);
    return c.body(answer.body, 200, answerHeaders(answer.etag)) as never;
  });

  // A cached record is answered before validation and the ETag middleware: its key passed them when it was read.
  if (cache)
    router.get("/:key", async function cachedRecord(c, next) {
      const hit = cache.get(spec.resource, c.req.param("key"));
      if (!hit) return next();
      if (etagMatches(hit.etag, c.req.header("if-none-match")))
        return new Response(null, {
          status: 304,
          headers: { etag: hit.etag, "cache-control": CACHE_CONTROL },
        });
      return new Response(hit.body, { status: 200, headers: answerHeaders(hit.etag) });
    });
  router.use("/:key", etag());
  router.openapi(routes.get, async (c) => {
    const key = c.req.param(spec.key as never) as string;
    const ticket = cache?.ticket();
    const row = await getRecord(ctx(c), spec, key);
    // Encoded once: every hit sends these bytes as they are.
    const answer = { body: utf8.encode(JSON.stringify(row)), etag: etagOf(row) };
    if (ticket !== undefined) cache?.set(spec.resource, key, answer, ticket);
    return c.body(answer.body, 200, answerHeaders(answer.etag)) as never;
  });

  router.openapi(routes.create, async (c) => {
    const input = valid(c, "json");
    const row = await createRecord(ctx(c), spec, input);
    forget([String(row[spec.key])]);
    c.header("location", `/api/${spec.resource}/${encodeURIComponent(String(row[spec.key]))}`);
    c.header("etag", etagOf(row));
    return c.json(row as never, 201);
  });

  router.openapi(routes.update, async (c) => {
    const key = c.req.param(spec.key as never) as string;
    const ifMatch = c.req.header("if-match");
    if (!ifMatch)
      throw new AppError(
        "precondition_required",
        "Send If-Match with the ETag from your last GET, so concurrent edits are not lost",
      );
    const row = await updateRecord(ctx(c), spec, key, valid(c, "json"), ifMatch).catch((error) => {
      // The current ETag goes back with the 412, so the client can GET (or retry) knowingly.
      if (error instanceof StaleWriteError) c.header("etag", error.currentEtag);
      throw error;
    });
    forget([key]);
    c.header("etag", etagOf(row));
    return c.json(row as never, 200);
  });

  router.openapi(routes.delete, async (c) => {
    const key = c.req.param(spec.key as never) as string;
    await deleteRecord(ctx(c), spec, key);
    forget([key]);
    return c.body(null, 204);
  });

  return router;
}
