import type { AuditEntry } from "@fig/audit";
import type { DeadLetter } from "@fig/events";
import {
  deadLetters,
  type JobQueue,
  type JobRun,
  type JobsSnapshot,
  type JobsSource,
  jobsSnapshot,
} from "../admin/jobs.ts";
import type { Breakers } from "../policies/breaker.ts";
import type { Shadow } from "../policies/shadow/mirror.ts";
import type { ShadowReport } from "../policies/shadow/report.ts";
import type { RouteTable, WriteMode } from "../routes.ts";
import type { HistoryEntry, RouteStateStore } from "../state/types.ts";
import type { AuditSource } from "./audit.ts";
import type { DataStatus, DataStatusSource } from "./data-status.ts";
import type { Promotion, PromotionsSource } from "./promotions.ts";
import type { ConsoleSampler, SharePoint, UpstreamStats } from "./sampler.ts";

/** Who is looking: from the verified bearer token. `authorization` is passed on to in-process admin reads. */
export type Viewer = { sub: string; tenant: string; roles: string[]; admin: boolean; authorization: string };

export type RouteRow = {
  id: string;
  prefixes: string[];
  state: "active" | "inactive";
  /** The live write owner; where writes go only when `writes` is `owner`. */
  writeOwner: string;
  writes: WriteMode;
  /** The first upstream that is not the default route's: the new service this route is being strangled into. */
  candidate: string | null;
  upstreams: { name: string; weight: number; breaker: string; stats: UpstreamStats }[];
  revision: number;
  updatedAt: string;
  updatedBy: string;
  history: HistoryEntry[];
  /** The candidate's weight at each change (from the route's history), for the chart. */
  weightSteps: { at: number; weight: number }[];
};

/** A run as the console lists it: in the queue, or `done` (acknowledged, gone from the queue). */
export type ConsoleRun = Omit<JobRun, "state"> & { state: JobRun["state"] | "done" };
export type ConsoleQueue = Omit<JobQueue, "runs"> & { runs: ConsoleRun[] };
export type ConsoleJobs = { queues: ConsoleQueue[] };

export type Failed = { error: string };
export const failed = (v: unknown): v is Failed =>
  typeof v === "object" && v !== null && "error" in v && !Array.isArray(v);

export type ConsoleSources = {
  /** Changes whenever a route's live state or a breaker changes: cheap, checked often. */
  stamp(): string;
  routes(): RouteRow[];
  share(): SharePoint[];
  shadow(): ShadowReport | null;
  jobs(): Promise<ConsoleJobs | Failed | null>;
  dlq(): Promise<DeadLetter[] | Failed | null>;
  promotions(viewer: Viewer): Promise<Promotion[] | Failed | null>;
  data(viewer: Viewer): Promise<DataStatus[] | Failed | null>;
  audit(viewer: Viewer): Promise<AuditEntry[] | Failed | null>;
};

/**
 * Runs leave the work queue when acknowledged; the console keeps the last few it saw per queue as `done` so
 * their progress bars can reach 100 % from their own SSE stream instead of vanishing at 99.
 */
function createDepartedRuns(keep = 20) {
  const byQueue = new Map<string, { inQueue: Map<string, JobRun>; done: ConsoleRun[] }>();
  const mergeQueue = (queue: JobQueue): ConsoleQueue => {
    const seen = byQueue.get(queue.name) ?? { inQueue: new Map<string, JobRun>(), done: [] };
    byQueue.set(queue.name, seen);
    const now = new Map(queue.runs.flatMap((r) => (r.id === null ? [] : [[r.id, r] as const])));
    for (const [id, run] of seen.inQueue)
      if (!now.has(id) && !seen.done.some((d) => d.id === id)) seen.done.unshift({ ...run, state: "done" });
    seen.done.splice(keep);
    seen.inQueue = now;
    const finished = seen.done.filter((d) => d.id !== null && !now.has(d.id));
    return { ...queue, runs: [...queue.runs, ...finished] };
  };
  return {
    merge: (snapshot: JobsSnapshot): ConsoleJobs => ({ queues: snapshot.queues.map(mergeQueue) }),
  };
}

/** Memoizes an async read for `ttlMs` per key, so many open consoles cost one JetStream round trip. */
function cached<K, V>(ttlMs: number, read: (key: K) => Promise<V>) {
  const entries = new Map<K, { at: number; value: Promise<V> }>();
  return (key: K): Promise<V> => {
    const hit = entries.get(key);
    if (hit && Date.now() - hit.at < ttlMs) return hit.value;
    const value = read(key);
    entries.set(key, { at: Date.now(), value });
    if (entries.size > 100) entries.delete(entries.keys().next().value as K);
    return value;
  };
}

const errorOf = (error: unknown): Failed => ({ error: (error as Error).message ?? String(error) });

export type SourcesDeps = {
  table: RouteTable;
  store: RouteStateStore;
  breakers?: Breakers;
  shadow?: Shadow;
  sampler: ConsoleSampler;
  jobs?: JobsSource;
  promotions?: PromotionsSource;
  data?: DataStatusSource;
  audit?: AuditSource;
  /** How long JetStream and in-process admin reads are reused. */
  cacheMs?: number;
};

/** The console's reads: the same live state, breakers, metrics and streams the admin API reads. */
export function createConsoleSources(deps: SourcesDeps): ConsoleSources {
  const { table, store, breakers, sampler, cacheMs = 750 } = deps;
  const all = [table.defaultRoute, ...table.routes];
  // The system being strangled is whatever the default route sends to (the route file's `monolith:`).
  const legacy = table.defaultRoute.upstreams[0]?.name;
  const departed = createDepartedRuns();
  const jobs = cached(cacheMs, async () =>
    deps.jobs ? jobsSnapshot(deps.jobs).then(departed.merge, errorOf) : null,
  );
  const dlq = cached(cacheMs, async () => (deps.jobs ? deadLetters(deps.jobs).catch(errorOf) : null));
  const promotions = cached(cacheMs, async (authorization: string) =>
    deps.promotions ? deps.promotions(authorization).catch(errorOf) : null,
  );
  const data = cached(cacheMs, async (authorization: string) =>
    deps.data ? deps.data(authorization).catch(errorOf) : null,
  );
  const audit = cached(cacheMs, async (authorization: string) =>
    deps.audit ? deps.audit(authorization).catch(errorOf) : null,
  );
  return {
    stamp: () =>
      `${store
        .list()
        .map((r) => r.revision)
        .join(",")}|${JSON.stringify(breakers?.states() ?? {})}`,
    routes: () =>
      all.map((route) => {
        const live = store.get(route.id);
        const candidate = route.upstreams.find((u) => u.name !== legacy)?.name ?? null;
        const history = live?.history ?? [];
        const weightSteps = history.flatMap((h) => {
          const weights = (
            h.what === "weights" ? h.to : h.what === "seed" ? (h.to as { weights?: unknown })?.weights : null
          ) as Record<string, number> | null | undefined;
          const at = Date.parse(h.at);
          return weights && candidate && Number.isFinite(at) ? [{ at, weight: weights[candidate] ?? 0 }] : [];
        });
        return {
          id: route.id,
          prefixes: route.prefixes,
          state: live?.state ?? route.state,
          writeOwner: live?.writeOwner ?? route.writeOwner,
          writes: route.writes,
          candidate,
          upstreams: route.upstreams.map((u) => ({
            name: u.name,
            weight: live?.weights[u.name] ?? u.weight,
            breaker: route.policies.breaker ? (breakers?.state(u.name) ?? "closed") : "none",
            stats: sampler.stats(route.id, u.name),
          })),
          revision: live?.revision ?? 0,
          updatedAt: live?.updatedAt ?? "",
          updatedBy: live?.updatedBy ?? "",
          history: history.slice(-5).reverse(),
          weightSteps,
        };
      }),
    share: () => sampler.share(),
    shadow: () => deps.shadow?.snapshot() ?? null,
    jobs: () => jobs(undefined),
    dlq: () => dlq(undefined),
    promotions: (viewer) => promotions(viewer.authorization),
    data: (viewer) => data(viewer.authorization),
    audit: (viewer) => audit(viewer.authorization),
  };
}
