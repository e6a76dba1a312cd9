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
 * The N processes sharing the port as one group over NATS, so that whichever answers an admin request can
 * answer it for all N: each process answers `<group subject>.<topic>` with its own figures (`answer`, served
 * from `start` to `stop`), and `ask` asks all N at once and returns every share that arrived within the wait
 * (the caller merges them), with how many answered. With NATS unreachable (or nobody answering) it is this
 * process's own share, said so in `processes` (answered 1 of N). Used by GET /_fig/shadow, GET
 * /_fig/routes/{id}/counters and the write hold (admin/).
 *
 * @example
 * const group = processGroup({ connection: () => nats.connection(), subject: processGroupSubject(ns, role), role });
 * group.answer("shadow", () => shadow.snapshot());
 * group.start();
 * await group.ask("shadow", "", () => shadow.snapshot()); // { shares: [a, b], processes: { of: 2, answered: 2 } }
 */
export function processGroup({
  connection,
  subject: group,
  role,
  waitMs: defaultWaitMs = 1000,
}: {
  connection: () => Promise<GroupConnection>;
  subject: string;
  role: { processes: number; index: number };
  waitMs?: number;
}) {
  const answers = new Map<string, (request: string) => unknown>();
  let stopped = false;
  let sub: { unsubscribe(): void } | undefined;
  return {
    processes: role.processes,
    index: role.index,

    /** This process's answer to `topic` (a share of the figures: made of the request's text, e.g. a route id). */
    answer<T>(topic: string, reply: (request: string) => T | Promise<T>): void {
      answers.set(topic, reply);
    },

    /**
     * Answers the group's requests until `stop`. Does not wait for NATS: before the first connection it tries
     * again every `retryMs` (nats.js keeps the subscription over reconnects once made). A share that throws is
     * not sent (the asker counts one process fewer).
     */
    start({ retryMs = 1000 }: { retryMs?: number } = {}): void {
      stopped = false;
      void (async () => {
        while (!stopped && !sub) {
          try {
            const nc = await connection();
            if (stopped) return;
            sub = nc.subscribe(`${group}.*`, {
              callback: (error, msg) => {
                const reply = error ? undefined : answers.get(msg.subject.slice(group.length + 1));
                if (!reply) return;
                void (async () => msg.respond(JSON.stringify(await reply(msg.string()))))().catch(() => {});
              },
            });
          } catch {
            await new Promise((resolve) => setTimeout(resolve, retryMs));
          }
        }
      })();
    },

    stop(): void {
      stopped = true;
      sub?.unsubscribe();
      sub = undefined;
    },

    /** Every process's share of `topic` that arrives within `waitMs` (this one's alone without NATS). */
    async ask<T>(
      topic: string,
      request: string,
      local: () => T | Promise<T>,
      { waitMs = defaultWaitMs }: { waitMs?: number } = {},
    ): Promise<{ shares: T[]; processes: ProcessCoverage }> {
      const shares: T[] = [];
      try {
        const replies = await (await connection()).requestMany(`${group}.${topic}`, request, {
          strategy: "count",
          maxMessages: role.processes,
          maxWait: waitMs,
        });
        for await (const reply of replies) shares.push(reply.json<T>());
      } catch {
        // NATS unreachable (or the request failed): this process's own picture, and the coverage says so.
      }
      if (shares.length === 0) shares.push(await local());
      return { shares, processes: { of: role.processes, answered: shares.length } };
    },
  };
}

export type ProcessGroup = ReturnType<typeof processGroup>;

/** `group.ask`, or without a group (a single process) this process's own share, answered 1 of 1. */
export async function askAll<T>(
  group: ProcessGroup | undefined,
  topic: string,
  request: string,
  local: () => T | Promise<T>,
  options?: { waitMs?: number },
): Promise<{ shares: T[]; processes: ProcessCoverage }> {
  if (!group) return { shares: [await local()], processes: { of: 1, answered: 1 } };
  return group.ask(topic, request, local, options);
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
