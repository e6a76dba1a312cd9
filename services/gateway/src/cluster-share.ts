import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/nats-core";
import type { RateLimiter } from "./policies/rate-limit.ts";
import type { ShadowReport, ShadowRouteReport } from "./policies/shadow/report.ts";

/** The response header naming the gateway process that answered, when N > 1 share the port (0 … N-1). */
export const PROCESS_HEADER = "fig-gateway-process";

/**
 * This process's share of every rate limit when `processes` share the port: ⌊limit ÷ N⌋ (at least 1), in
 * its own token bucket, so the N buckets of a consumer together never admit more than the limit (when
 * limit ≥ N). The kernel spreads connections, not requests: a consumer on one kept-alive connection meets
 * one process, and so gets 1/N of its limit; RateLimit-Limit says the share that process enforces.
 *
 * @example
 * const limiter = rateLimitShare(createRateLimiter(), 2); // a 100/minute route: 50/minute in each process
 */
export function rateLimitShare(limiter: RateLimiter, processes: number): RateLimiter {
  if (processes <= 1) return limiter;
  return {
    take: (routeId, consumer, limit) =>
      limiter.take(routeId, consumer, Math.max(1, Math.floor(limit / processes))),
    size: () => limiter.size(),
  };
}

type Fetch<S> = (request: Request, server?: S) => Response | Promise<Response>;

/**
 * Every answer names the process that gave it (`Fig-Gateway-Process: <index>`): which of the N processes
 * answered is otherwise invisible behind the shared port (an operator reading /health, the tests).
 * The proxy's responses have mutable headers (proxy/headers.ts); an immutable one is copied.
 */
export function withProcessHeader<S>(fetch: Fetch<S>, index: number): Fetch<S> {
  const value = String(index);
  const named = (response: Response) => {
    try {
      response.headers.set(PROCESS_HEADER, value);
      return response;
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      const copy = new Response(response.body, response);
      copy.headers.set(PROCESS_HEADER, value);
      return copy;
    }
  };
  return async (request, server) => named(await fetch(request, server));
}

/** How many of the N processes a report covers: fewer than `of` when one did not answer in time. */
export type ProcessCoverage = { of: number; answered: number };

/** The connection a process group talks over (the gateway's NATS connection). */
type GroupConnection = Pick<NatsConnection, "subscribe" | "requestMany">;

/**
 * The subject the N processes of one host answer on: process 0's pid names the group (the others are its
 * children, so their parent pid), with the host's name, so two hosts on one NATS never mix their processes.
 */
export function processGroupSubject(
  namespace: string,
  role: { index: number },
  ids: { pid: number; ppid: number; host: string } = {
    pid: process.pid,
    ppid: process.ppid,
    host: hostname(),
  },
): string {
  const leader = role.index === 0 ? ids.pid : ids.ppid;
  return `${namespace}.gateway.${ids.host.replace(/[^A-Za-z0-9_-]/g, "_")}-${leader}`;
}

/**
 * The shadow report of every process sharing the port, where any one of them answers `GET /_fig/shadow`:
 * each process answers requests on `<group subject>.shadow` with its own snapshot (`serve`), and `report`
 * asks all N at once over NATS and merges what arrives within `waitMs` (sums of the counters, each process's
 * noise fields added up, the latest samples). With NATS unreachable it is this process's own report, said so
 * in `processes` (answered 1 of N).
 *
 * @example
 * const share = shadowShare({ connection: () => nats.connection(), subject: processGroupSubject(ns, role), processes: 2 });
 * const stop = share.serve(() => shadow.snapshot());
 * await share.report(() => shadow.snapshot()); // { queue, routes, processes: { of: 2, answered: 2 } }
 */
export function shadowShare({
  connection,
  subject: group,
  processes,
  waitMs = 1000,
}: {
  connection: () => Promise<GroupConnection>;
  subject: string;
  processes: number;
  waitMs?: number;
}) {
  const subject = `${group}.shadow`;
  return {
    /**
     * Answers the group's requests with this process's snapshot until the returned function is called. Does not
     * wait for NATS: before the first connection it tries again every `retryMs` (nats.js keeps the subscription
     * over reconnects once made).
     */
    serve(snapshot: () => ShadowReport, { retryMs = 1000 }: { retryMs?: number } = {}): () => void {
      let stopped = false;
      let sub: { unsubscribe(): void } | undefined;
      void (async () => {
        while (!stopped && !sub) {
          try {
            const nc = await connection();
            if (stopped) return;
            sub = nc.subscribe(subject, {
              callback: (error, msg) => {
                if (!error) msg.respond(JSON.stringify(snapshot()));
              },
            });
          } catch {
            await new Promise((resolve) => setTimeout(resolve, retryMs));
          }
        }
      })();
      return () => {
        stopped = true;
        sub?.unsubscribe();
      };
    },

    async report(local: () => ShadowReport): Promise<ShadowReport & { processes: ProcessCoverage }> {
      const reports: ShadowReport[] = [];
      try {
        const replies = await (await connection()).requestMany(subject, "", {
          strategy: "count",
          maxMessages: processes,
          maxWait: waitMs,
        });
        for await (const reply of replies) reports.push(reply.json<ShadowReport>());
      } catch {
        // NATS unreachable (or the request failed): this process's own picture, and the coverage says so.
      }
      if (reports.length === 0) reports.push(local());
      return { ...mergeShadowReports(reports), processes: { of: processes, answered: reports.length } };
    },
  };
}

/**
 * One report from N processes' reports: counters summed (the mismatch rate recomputed from the sums), noise
 * fields added up by path, and the latest samples (as many as the longest list kept). Each process classified
 * its own comparisons against the noise it learned, so a field one process found noisy may count as a mismatch
 * in another's share until it learns it too.
 */
export function mergeShadowReports(reports: ShadowReport[]): ShadowReport {
  const routes = new Map<string, ShadowRouteReport[]>();
  for (const report of reports)
    for (const route of report.routes) routes.set(route.route, [...(routes.get(route.route) ?? []), route]);
  return {
    queue: {
      max: reports.reduce((n, r) => n + r.queue.max, 0),
      outstanding: reports.reduce((n, r) => n + r.queue.outstanding, 0),
    },
    routes: [...routes.values()].map(mergeRoute),
  };
}

function mergeRoute(shares: ShadowRouteReport[]): ShadowRouteReport {
  const sum = (count: (r: ShadowRouteReport) => number) => shares.reduce((n, r) => n + count(r), 0);
  const noise = new Map<string, number>();
  for (const share of shares)
    for (const { path, count } of share.noise.fields) noise.set(path, (noise.get(path) ?? 0) + count);
  const keep = Math.max(...shares.map((r) => r.samples.length));
  const samples = shares
    .flatMap((r) => r.samples)
    .sort((a, b) => a.at.localeCompare(b.at))
    .slice(-keep);
  const compared = sum((r) => r.compared);
  const mismatches = sum((r) => r.mismatches);
  const first = shares[0] as ShadowRouteReport;
  return {
    route: first.route,
    candidate: first.candidate,
    mirrored: sum((r) => r.mirrored),
    dropped: sum((r) => r.dropped),
    compared,
    matches: sum((r) => r.matches),
    mismatches,
    noiseOnly: sum((r) => r.noiseOnly),
    mismatchRate: compared === 0 ? 0 : mismatches / compared,
    candidateErrors: sum((r) => r.candidateErrors),
    bodiesNotCompared: {
      tooLarge: sum((r) => r.bodiesNotCompared.tooLarge),
      notJson: sum((r) => r.bodiesNotCompared.notJson),
    },
    noise: {
      samples: sum((r) => r.noise.samples),
      errors: sum((r) => r.noise.errors),
      fields: [...noise].map(([path, count]) => ({ path, count })),
    },
    samples,
  };
}
