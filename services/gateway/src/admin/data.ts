import type { RouteDataReader } from "@fig/datasync/view";
import { AppError, bearerSecurity, createRouter, errorResponses, jsonContent } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import type { RouteTable } from "../routes.ts";
import type { RouteStateStore } from "../state/types.ts";
import { ADMIN_TAGS } from "./guard.ts";

const ms = (description: string) => z.number().nullable().openapi({ description, example: 42 });

const RouteDataSchema = z
  .object({
    route: z.string().openapi({ example: "reference-data" }),
    writeOwner: z.string().openapi({ description: "From the live route state", example: "monolith" }),
    syncLag: z
      .object({
        origin: z
          .string()
          .openapi({ description: "Whose changes the reporting follower applies", example: "monolith" }),
        at: z
          .string()
          .openapi({ description: "When the follower reported", example: "2026-01-31T12:00:00.000Z" }),
        changes: z.number().int().openapi({ description: "Changes in the window", example: 1200 }),
        windowSeconds: z.number().openapi({ example: 300 }),
        p50Ms: ms("Commit on the owner → applied on the follower, median"),
        p99Ms: ms("… 99th percentile"),
      })
      .nullable()
      .openapi({ description: "null until a follower has applied a change" }),
    lastVerify: z
      .object({
        at: z.string(),
        ok: z.boolean(),
        owner: z.string(),
        candidate: z.string(),
        summary: z.string().openapi({ example: "codes 1565, contexts 38, establishments 177, rules 14" }),
        tables: z.array(
          z.object({
            table: z.string(),
            ownerCount: z.number().int(),
            candidateCount: z.number().int(),
            equal: z.boolean(),
          }),
        ),
        differences: z
          .array(z.object({ table: z.string(), key: z.string(), kind: z.string() }))
          .openapi({ description: "The first differing keys (at most 10)" }),
      })
      .nullable()
      .openapi({ description: "`migrate-data verify` (or a backfill's or flip's verify); null: never run" }),
    backfill: z
      .object({
        running: z
          .boolean()
          .openapi({ description: "false with done < total: interrupted (run it again to resume)" }),
        table: z.string().nullable(),
        done: z.number().int(),
        total: z.number().int(),
        rowsPerSecond: z.number().nullable(),
        etaSeconds: z.number().nullable(),
        at: z.string(),
      })
      .nullable(),
    lastFlip: z
      .object({
        at: z.string(),
        from: z.string(),
        to: z.string(),
        outcome: z.enum(["flipped", "refused"]),
        reason: z.string().nullable(),
        heldMs: z.number(),
        heldWrites: z.number(),
        totalMs: z.number(),
      })
      .passthrough()
      .nullable(),
  })
  .openapi("GatewayRouteData");

export const getDataRoute = createRoute({
  method: "get",
  path: "/data",
  operationId: "getGatewayData",
  tags: ADMIN_TAGS,
  summary: "Data during the migration: write owner, sync lag, last verify and backfill per stateful route",
  description:
    "Operators only (role operator in the operator tenant; the console reads it). What `bun run migrate-data` and the live sync keep in NATS KV (`<ns>_datasync`), " +
    "with the write owner from the live route state. The numbers are the same `migrate-data status` prints.",
  security: bearerSecurity,
  responses: {
    200: {
      description: "Per stateful route",
      content: jsonContent(z.object({ routes: z.array(RouteDataSchema) })),
    },
    ...errorResponses(401, 403, 404, 429, 503),
  },
});

export type DataAdminDeps = {
  table: RouteTable;
  store: RouteStateStore;
  /** packages/datasync's KV reader; without it (no NATS: `bun run openapi`) GET /_fig/data is 404. */
  reader?: RouteDataReader | undefined;
};

/** GET /_fig/data: operators only (the console's Data tab reads it; see guard.ts). */
export function dataRouter({ table, store, reader }: DataAdminDeps) {
  const stateful = table.routes.filter((r) => r.writes === "owner");
  const router = createRouter();
  router.openapi(getDataRoute, async (c) => {
    if (!reader)
      throw new AppError("not_found", "This gateway has no data status reader (packages/datasync's KV)");
    try {
      const routes = await Promise.all(
        stateful.map((r) => reader.read(r.id, store.get(r.id)?.writeOwner ?? r.writeOwner)),
      );
      return c.json({ routes }, 200);
    } catch (error) {
      throw new AppError(
        "not_ready",
        `migrate-data's state in NATS KV is unreachable: ${(error as Error).message}`,
      );
    }
  });
  return router;
}
