import { AppError, bearerSecurity, createRouter, errorResponses, jsonContent } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import type { Registry } from "prom-client";
import { askAll, type ProcessGroup } from "../cluster-share.ts";
import type { RouteTable } from "../routes.ts";
import { ADMIN_TAGS } from "./guard.ts";
import { ProcessesSchema } from "./processes.ts";

const IdParams = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "reference-data" }),
});

const UpstreamCountersSchema = z
  .object({
    upstream: z.string().openapi({ example: "reference-data" }),
    requests: z
      .number()
      .int()
      .openapi({ description: "Answers from the upstream (any status)", example: 812 }),
    serverErrors: z.number().int().openapi({ description: "Of those, 5xx answers", example: 1 }),
    transportErrors: z.number().int().openapi({
      description: "Attempts that got no answer (connection error, timeout): not in `requests`",
      example: 0,
    }),
    duration: z
      .object({
        buckets: z
          .array(z.object({ le: z.number(), count: z.number().int() }))
          .openapi({ description: "Cumulative counts of answers within `le` seconds (the finite buckets)" }),
        count: z.number().int().openapi({ description: "Every observation (the +Inf bucket)" }),
        sumSeconds: z.number(),
      })
      .openapi({ description: "Time to the upstream's response headers" }),
  })
  .openapi("GatewayUpstreamCounters");

const ProcessCountersSchema = z
  .object({
    process: z.number().int().openapi({ description: "FIG_GATEWAY_PROCESS_INDEX (0 … N-1)", example: 0 }),
    pid: z
      .number()
      .int()
      .openapi({ description: "A new pid: the process was restarted (its counters from zero)" }),
    upstreams: z.array(UpstreamCountersSchema),
  })
  .openapi("GatewayProcessCounters");

const RouteCountersSchema = z
  .object({
    route: z.string().openapi({ example: "reference-data" }),
    at: z.string().openapi({ example: "2026-01-31T12:00:00.000Z" }),
    upstreams: z
      .array(UpstreamCountersSchema)
      .openapi({ description: "Every answering process's counters summed, by upstream" }),
    perProcess: z.array(ProcessCountersSchema).openapi({
      description:
        "Each answering process's own counters: a difference between two reads is taken per process (and pid), so a process restarted in between counts from zero rather than pulling the sum down",
    }),
    processes: ProcessesSchema,
  })
  .openapi("GatewayRouteCounters");

export type UpstreamCounters = z.infer<typeof UpstreamCountersSchema>;
export type ProcessCounters = z.infer<typeof ProcessCountersSchema>;
export type RouteCounters = z.infer<typeof RouteCountersSchema>;

export const getRouteCountersRoute = createRoute({
  method: "get",
  path: "/routes/{id}/counters",
  operationId: "getGatewayRouteCounters",
  tags: ADMIN_TAGS,
  summary:
    "A route's upstream counters (requests, errors, latency histogram), summed over every gateway process",
  description:
    "Operators only (role operator in the operator tenant). The figures `/metrics` has for the route (gateway_upstream_requests_total, " +
    "gateway_upstream_errors_total, gateway_upstream_duration_seconds), as counters since each process started. With N gateway processes " +
    "on one port (FIG_GATEWAY_PROCESSES), whichever answers asks all N and sums them; `processes` says how many answered and " +
    "`perProcess` has each one's own. `bun run promote` reads it before and after each step's window.",
  security: bearerSecurity,
  request: { params: IdParams },
  responses: {
    200: { description: "The route's counters", content: jsonContent(RouteCountersSchema) },
    ...errorResponses(401, 403, 404, 429),
  },
});

type Value = { metricName?: string; labels: Record<string, string | number>; value: number };

async function valuesOf(registry: Registry, name: string): Promise<Value[]> {
  const metric = registry.getSingleMetric(name);
  return metric ? ((await metric.get()).values as Value[]) : [];
}

/**
 * One process's counters of `route`, by upstream, read from its metrics registry (the same values /metrics
 * shows). Failures are 5xx answers (`requests` with status ≥ 500) and `gateway_upstream_errors_total` of a
 * kind other than `http_*` (no answer at all), as promote's reading of /metrics counts them.
 */
export async function routeCountersOf(registry: Registry, route: string): Promise<UpstreamCounters[]> {
  const byUpstream = new Map<string, UpstreamCounters>();
  const of = (labels: Record<string, string | number>) => {
    const upstream = String(labels.upstream);
    let counters = byUpstream.get(upstream);
    if (!counters) {
      counters = {
        upstream,
        requests: 0,
        serverErrors: 0,
        transportErrors: 0,
        duration: { buckets: [], count: 0, sumSeconds: 0 },
      };
      byUpstream.set(upstream, counters);
    }
    return counters;
  };
  for (const { labels, value } of await valuesOf(registry, "gateway_upstream_requests_total")) {
    if (labels.route !== route) continue;
    const counters = of(labels);
    counters.requests += value;
    if (Number(labels.status) >= 500) counters.serverErrors += value;
  }
  for (const { labels, value } of await valuesOf(registry, "gateway_upstream_errors_total")) {
    if (labels.route !== route || String(labels.kind).startsWith("http_")) continue;
    of(labels).transportErrors += value;
  }
  for (const { metricName, labels, value } of await valuesOf(registry, "gateway_upstream_duration_seconds")) {
    if (labels.route !== route) continue;
    const { duration } = of(labels);
    if (metricName?.endsWith("_sum")) duration.sumSeconds += value;
    else if (metricName?.endsWith("_count")) duration.count += value;
    else if (metricName?.endsWith("_bucket") && labels.le !== "+Inf") {
      addToBucket(duration.buckets, Number(labels.le), value);
    }
  }
  return sortedCounters(byUpstream);
}

/** Several processes' counters of one route as one: every figure summed, by upstream and bucket bound. */
export function sumRouteCounters(shares: UpstreamCounters[][]): UpstreamCounters[] {
  const byUpstream = new Map<string, UpstreamCounters>();
  for (const share of shares)
    for (const counters of share) {
      const sum = byUpstream.get(counters.upstream);
      if (!sum) {
        byUpstream.set(counters.upstream, structuredClone(counters));
        continue;
      }
      sum.requests += counters.requests;
      sum.serverErrors += counters.serverErrors;
      sum.transportErrors += counters.transportErrors;
      sum.duration.count += counters.duration.count;
      sum.duration.sumSeconds += counters.duration.sumSeconds;
      for (const { le, count } of counters.duration.buckets) addToBucket(sum.duration.buckets, le, count);
    }
  return sortedCounters(byUpstream);
}

/** Adds `count` to the bucket bounded by `le`, made if it is not there yet. */
function addToBucket(buckets: UpstreamCounters["duration"]["buckets"], le: number, count: number): void {
  const bucket = buckets.find((b) => b.le === le);
  if (bucket) bucket.count += count;
  else buckets.push({ le, count });
}

/** By upstream name, each upstream's buckets by bound. */
function sortedCounters(byUpstream: Map<string, UpstreamCounters>): UpstreamCounters[] {
  const list = [...byUpstream.values()];
  for (const counters of list) counters.duration.buckets.sort((a, b) => a.le - b.le);
  return list.sort((a, b) => a.upstream.localeCompare(b.upstream));
}

export type RouteCountersDeps = {
  table: RouteTable;
  /** The gateway's own metrics (metrics.ts): the registry /metrics serves. */
  registry: Registry;
  /** The N processes sharing the port (cluster-share.ts); without it, this process alone (1 of 1). */
  group?: ProcessGroup | undefined;
};

/** GET /_fig/routes/{id}/counters: operators only (see guard.ts). */
export function routeCountersRouter({ table, registry, group }: RouteCountersDeps) {
  const ids = new Set([table.defaultRoute.id, ...table.routes.map((r) => r.id)]);
  const router = createRouter();
  const own = async (route: string): Promise<ProcessCounters> => ({
    process: group?.index ?? 0,
    pid: process.pid,
    upstreams: await routeCountersOf(registry, route),
  });
  group?.answer<ProcessCounters>("counters", own);
  router.openapi(getRouteCountersRoute, async (c) => {
    const { id } = c.req.valid("param");
    if (!ids.has(id)) throw new AppError("not_found", `No route ${id}`);
    const { shares, processes } = await askAll(group, "counters", id, () => own(id));
    shares.sort((a, b) => a.process - b.process);
    const body: RouteCounters = {
      route: id,
      at: new Date().toISOString(),
      upstreams: sumRouteCounters(shares.map((s) => s.upstreams)),
      perProcess: shares,
      processes,
    };
    return c.json(body, 200);
  });
  return router;
}
