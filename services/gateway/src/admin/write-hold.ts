import { AppError, bearerSecurity, createRouter, errorResponses, jsonContent } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { askAll, type ProcessCoverage, type ProcessGroup } from "../cluster-share.ts";
import type { WriteHoldStats, WriteHolds } from "../proxy/write-hold.ts";
import type { RouteTable } from "../routes.ts";
import { type RouteStateStore, StateUnavailableError, UnknownRouteError } from "../state/types.ts";
import { ADMIN_TAGS } from "./guard.ts";
import { ProcessesSchema } from "./processes.ts";

/** The longest a route's writes may be held: a flip is seconds; a longer hold is an outage. */
export const MAX_HOLD_MS = 30_000;

const IdParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "reference-data" }),
});
const reason = z.string().max(2000).optional().openapi({ example: "migrate-data flip reference-data" });
const HoldBody = z
  .object({
    holdMs: z.number().int().min(1).max(MAX_HOLD_MS).default(2000).openapi({
      description: "How long new writes wait before they are answered 503 with Retry-After",
      example: 2000,
    }),
    reason,
  })
  .openapi("GatewayWriteHoldRequest");
const ReleaseBody = z.object({ reason }).openapi("GatewayWriteHoldRelease");
const HoldSchema = z
  .object({
    route: z.string().openapi({ example: "reference-data" }),
    until: z.string().nullable().openapi({
      description: "Deadline of the hold; null once released",
      example: "2026-01-31T12:00:02.000Z",
    }),
    writeOwner: z.string().openapi({ example: "monolith" }),
    inFlight: z.number().int().openapi({
      description:
        "Writes forwarded before the hold still unanswered (this replica: all its processes that answered)",
      example: 0,
    }),
    drained: z.boolean().openapi({
      description:
        "Every write forwarded before the hold has been answered (this replica: all its processes that answered)",
      example: true,
    }),
    stats: z
      .object({
        held: z.number().int(),
        released: z.number().int(),
        rejected: z.number().int(),
        longestHeldMs: z.number().int(),
      })
      .openapi({
        description:
          "Writes held, released and answered 503 since start, on this replica: summed over its processes (longestHeldMs: the longest of any)",
      }),
    processes: ProcessesSchema.openapi({
      description:
        "With N gateway processes on one port, the figures are every process's (asked over NATS): how many answered",
    }),
  })
  .openapi("GatewayWriteHold");

export const getWriteHoldRoute = createRoute({
  method: "get",
  path: "/routes/{id}/write-hold",
  operationId: "getGatewayRouteWriteHold",
  tags: ADMIN_TAGS,
  summary: "A route's write hold on this replica: its deadline, the writes in flight, the writes held so far",
  description:
    "Operators only (role operator in the operator tenant). `until` is null when the route's writes flow; `stats.held` counts " +
    "the writes that have reached a hold on this replica (each waits there until the release or the deadline), so a flip's " +
    "operator, or a test, sees a write waiting as it happens.",
  security: bearerSecurity,
  request: { params: IdParams },
  responses: {
    200: { description: "The route's hold, as this replica has it", content: jsonContent(HoldSchema) },
    ...errorResponses(401, 403, 404, 429),
  },
});

export const putWriteHoldRoute = createRoute({
  method: "put",
  path: "/routes/{id}/write-hold",
  operationId: "holdGatewayRouteWrites",
  tags: ADMIN_TAGS,
  summary: "Hold a route's new writes while its write owner moves",
  description:
    "Operators only (role operator in the operator tenant). New writes to the route wait, unforwarded, until the hold is released (they then go to the write owner of that moment) " +
    "or `holdMs` passes (503 with Retry-After; such a write was never sent). Answers once the writes forwarded before the hold were answered " +
    "(on this replica), so the old owner has committed them. Recorded in the history.",
  security: bearerSecurity,
  request: { params: IdParams, body: { required: true, content: jsonContent(HoldBody) } },
  responses: {
    200: { description: "The hold, with the writes still in flight", content: jsonContent(HoldSchema) },
    ...errorResponses(400, 401, 403, 404, 429, 503),
  },
});

export const deleteWriteHoldRoute = createRoute({
  method: "delete",
  path: "/routes/{id}/write-hold",
  operationId: "releaseGatewayRouteWrites",
  tags: ADMIN_TAGS,
  summary: "Release a route's held writes to its current write owner",
  description:
    "Operators only (role operator in the operator tenant). Recorded in the history (`why` carries the flip's figures).",
  security: bearerSecurity,
  request: { params: IdParams, body: { required: false, content: jsonContent(ReleaseBody) } },
  responses: {
    200: { description: "The route's writes flow again", content: jsonContent(HoldSchema) },
    ...errorResponses(400, 401, 403, 404, 429, 503),
  },
});

export type WriteHoldAdminDeps = {
  table: RouteTable;
  store: RouteStateStore;
  holds: WriteHolds;
  /** The N processes sharing the port (cluster-share.ts): the figures are all N's; without it, this one's. */
  group?: ProcessGroup | undefined;
};

/** One process's figures of a route's hold. */
type HoldShare = { inFlight: number; stats: WriteHoldStats };

/** Several processes' figures as one: counts summed, the longest wait the longest of any. */
export function sumHoldShares(shares: HoldShare[]): HoldShare {
  const sum = (f: (s: HoldShare) => number) => shares.reduce((n, s) => n + f(s), 0);
  return {
    inFlight: sum((s) => s.inFlight),
    stats: {
      held: sum((s) => s.stats.held),
      released: sum((s) => s.stats.released),
      rejected: sum((s) => s.stats.rejected),
      longestHeldMs: Math.max(0, ...shares.map((s) => s.stats.longestHeldMs)),
    },
  };
}

/** /_fig/routes/{id}/write-hold: operators only (see guard.ts). */
export function writeHoldRouter({ table, store, holds, group }: WriteHoldAdminDeps) {
  const ids = new Set(table.routes.map((r) => r.id));
  const router = createRouter();

  const own = (id: string): HoldShare => ({ inFlight: holds.inFlight(id), stats: holds.stats(id) });
  /**
   * Until this process has the hold in its state (another process stored it; the KV watch brings it) and the
   * writes it forwarded before the hold are answered, or the deadline; then its figures.
   */
  const drained = async (id: string, until: string): Promise<HoldShare> => {
    const deadline = Date.parse(until);
    while (Date.now() < deadline) {
      // A later hold (a later deadline) counts as this one: ISO times compare as text.
      const seen = (store.get(id)?.writeHold?.until ?? "") >= until;
      if (seen && holds.inFlight(id) === 0) break;
      await new Promise((r) => setTimeout(r, 2));
    }
    return own(id);
  };
  group?.answer<HoldShare>("write-hold", own);
  group?.answer<HoldShare>("write-hold-drained", (request) => {
    const { id, until } = JSON.parse(request) as { id: string; until: string };
    return drained(id, until);
  });
  /** Every process's figures (this one's alone without a group), summed. */
  const all = async (
    topic: string,
    request: string,
    local: () => HoldShare | Promise<HoldShare>,
    waitMs?: number,
  ) => {
    const { shares, processes } = await askAll(group, topic, request, local, { waitMs });
    return { ...sumHoldShares(shares), processes };
  };

  const view = (id: string, { inFlight, stats, processes }: HoldShare & { processes: ProcessCoverage }) => {
    const live = store.get(id);
    return {
      route: id,
      until: live?.writeHold?.until ?? null,
      writeOwner: live?.writeOwner ?? "",
      inFlight,
      drained: inFlight === 0,
      stats,
      processes,
    };
  };

  async function change(
    c: Context,
    id: string,
    hold: { until: string; by: string } | null,
    why: string | undefined,
  ) {
    if (!ids.has(id)) throw new AppError("not_found", `No carved-out route ${id}`);
    try {
      await store.change(
        id,
        { kind: "write-hold", hold },
        { who: c.get("auth")?.sub ?? "unknown", why: why ?? null },
      );
    } catch (error) {
      if (error instanceof UnknownRouteError) throw new AppError("not_found", error.message);
      if (error instanceof StateUnavailableError) throw new AppError("not_ready", error.message);
      throw error;
    }
  }

  router.openapi(getWriteHoldRoute, async (c) => {
    const { id } = c.req.valid("param");
    if (!ids.has(id)) throw new AppError("not_found", `No carved-out route ${id}`);
    return c.json(view(id, await all("write-hold", id, () => own(id))), 200);
  });

  router.openapi(putWriteHoldRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { holdMs, reason: why } = c.req.valid("json");
    const until = new Date(Date.now() + holdMs);
    // The counts before the hold takes effect: a flip subtracts them from the release's. Taken before the
    // change, not after it: a write that meets the hold while the change is still being stored (the local
    // state has it before the KV put is acknowledged) is this hold's too, as is one held while the writes
    // forwarded before the hold finish.
    if (!ids.has(id)) throw new AppError("not_found", `No carved-out route ${id}`);
    const atHold = await all("write-hold", id, () => own(id));
    await change(c, id, { until: until.toISOString(), by: c.get("auth")?.sub ?? "unknown" }, why);
    // The hold is in this replica's state now; writes forwarded before it finish within the route's timeout.
    // Every process answers once it has the hold too and its own writes from before it are answered.
    const request = JSON.stringify({ id, until: until.toISOString() });
    const after = await all(
      "write-hold-drained",
      request,
      () => drained(id, until.toISOString()),
      holdMs + 1000,
    );
    const processes = {
      of: after.processes.of,
      answered: Math.min(atHold.processes.answered, after.processes.answered),
    };
    return c.json({ ...view(id, after), stats: atHold.stats, processes }, 200);
  });

  router.openapi(deleteWriteHoldRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = (await c.req.json().catch(() => ({}))) as { reason?: string };
    await change(c, id, null, body.reason);
    return c.json(view(id, await all("write-hold", id, () => own(id))), 200);
  });

  return router;
}
