import type { SendFn, UpstreamName, UpstreamRequest } from "../types.ts";
import { type CapturedBody, captureBody, decodedBody, isJsonContentType, parseJson } from "./capture.ts";
import { compileIgnore, diffJson, type FieldDifference, generalize, STATUS_PATH } from "./diff.ts";
import type { ShadowReport, ShadowRouteReport, ShadowSample } from "./report.ts";

/** A pino-compatible logger, as little of it as the shadow needs. */
export type ShadowLogger = {
  debug(object: object, message: string): void;
  warn(object: object, message: string): void;
};

export type ShadowOptions = {
  /** Sends a mirrored request to a named upstream (the proxy's own send, without its policies). */
  fetch: SendFn;
  /** Mirrors outstanding at most (bodies being read, waiting, in flight); beyond it a GET is not mirrored. */
  queueMax?: number;
  /** Mirrors in flight at once. */
  concurrency?: number;
  /** Share of mirrored GETs for which the primary is asked a second time (the noise baseline). */
  noiseShare?: number;
  /** Bodies larger than this are not compared (status only); also bounds what a tee can buffer. */
  bodyCapBytes?: number;
  samplesPerRoute?: number;
  fieldsPerSample?: number;
  /** Deadline of a mirrored request. */
  timeoutMs?: number;
  logger?: ShadowLogger;
  random?: () => number;
};

export type MirrorPlan = {
  routeId: string;
  /** Percentage of the route's GETs to mirror (0–100). */
  percent: number;
  candidate: UpstreamName;
  /** The upstream that served the client. */
  primary: UpstreamName;
  /** The request the primary was sent (only GETs are mirrored): its URL and headers are replayed. */
  request: UpstreamRequest;
  /** The primary's response, body not yet read. */
  response: Response;
  /** Field paths left out of the comparison (ids, timestamps): see `compileIgnore`. */
  ignorePaths?: readonly string[];
};

export type Shadow = {
  /**
   * Maybe mirrors one GET; never waits for it. When the body is to be compared it is `clone()`d (a tee):
   * `plan.response` still streams to the client unchanged. Returns `plan.response`, for chaining.
   */
  maybeMirror(plan: MirrorPlan): Response;
  /** The report served at `GET /_fig/shadow`. */
  snapshot(): ShadowReport;
  /** Resolves once nothing is outstanding (tests, shutdown). */
  drained(): Promise<void>;
};

type Job = {
  plan: MirrorPlan;
  stats: RouteStats;
  status: number;
  /** The primary's body for comparison, read as soon as the mirror is accepted; undefined: status only. */
  body: Promise<CapturedBody> | undefined;
  noise: boolean;
};

type Signature = { paths: string[]; count: number };

type RouteStats = {
  candidate: UpstreamName;
  mirrored: number;
  dropped: number;
  candidateErrors: number;
  tooLarge: number;
  notJson: number;
  noiseSamples: number;
  noiseErrors: number;
  /** Generalized field path → how often two primary answers differed in it. */
  noise: Map<string, number>;
  /** Compared requests grouped by the set of paths that differed: classified against noise at report time. */
  signatures: Map<string, Signature>;
  overflow: { matches: number; mismatches: number; noiseOnly: number };
  samples: (Omit<ShadowSample, "fields" | "truncated"> & { fields: FieldDifference[] })[];
};

/** Distinct difference signatures kept per route; past it, requests are classified on arrival. */
const MAX_SIGNATURES = 1000;
/** Differing fields kept per sample before noise is filtered out. */
const MAX_RAW_FIELDS = 200;
const VALUE_PREVIEW_CHARS = 200;

/**
 * Shadow traffic: mirrors a share of a route's GETs to a candidate upstream off the request path, compares
 * status and JSON body with the primary's (ignored paths left out), and reports matches, mismatches and a
 * bounded sample of diffs. The noise baseline (after Twitter's Diffy): for `noiseShare` of the mirrors the
 * primary is asked twice, and fields that differ between its two answers are noise, left out of the
 * mismatch rate, retroactively too, since requests are kept grouped by which fields differed.
 *
 * The client never waits: the queue is bounded (`queueMax`, drops counted), and the primary body is
 * compared from a tee whose comparison branch is read eagerly and cancelled past `bodyCapBytes`.
 *
 * @example
 * const shadow = createShadow({ fetch: send, logger });
 * return shadow.maybeMirror({ routeId, percent: 10, candidate: "validation", primary: "monolith", request, response });
 */
export function createShadow({
  fetch: send,
  queueMax = 64,
  concurrency = 4,
  noiseShare = 0.1,
  bodyCapBytes = 1024 * 1024,
  samplesPerRoute = 20,
  fieldsPerSample = 20,
  timeoutMs = 10_000,
  logger,
  random = Math.random,
}: ShadowOptions): Shadow {
  const routes = new Map<string, RouteStats>();
  const waiting: Job[] = [];
  let outstanding = 0;
  let inFlight = 0;
  let idle: { promise: Promise<void>; resolve: () => void } | undefined;
  const ignoreCache = new Map<string, (pointer: string) => boolean>();

  const statsOf = (routeId: string, candidate: UpstreamName): RouteStats => {
    let stats = routes.get(routeId);
    if (!stats) {
      stats = {
        candidate,
        mirrored: 0,
        dropped: 0,
        candidateErrors: 0,
        tooLarge: 0,
        notJson: 0,
        noiseSamples: 0,
        noiseErrors: 0,
        noise: new Map(),
        signatures: new Map(),
        overflow: { matches: 0, mismatches: 0, noiseOnly: 0 },
        samples: [],
      };
      routes.set(routeId, stats);
    }
    stats.candidate = candidate;
    return stats;
  };

  const ignoreOf = (patterns: readonly string[] = []) => {
    const key = patterns.join("\n");
    let matcher = ignoreCache.get(key);
    if (!matcher) {
      matcher = compileIgnore(patterns);
      ignoreCache.set(key, matcher);
    }
    return matcher;
  };

  const finish = () => {
    outstanding--;
    inFlight--;
    if (outstanding === 0 && idle) {
      idle.resolve();
      idle = undefined;
    }
    pump();
  };

  const pump = () => {
    while (inFlight < concurrency && waiting.length > 0) {
      const job = waiting.shift() as Job;
      inFlight++;
      compare(job)
        .catch((error: unknown) =>
          logger?.warn({ err: error, route: job.plan.routeId }, "shadow comparison failed"),
        )
        .finally(finish);
    }
  };

  const ask = async (upstream: UpstreamName, request: UpstreamRequest, readBody: boolean) => {
    const headers = new Headers(request.headers);
    headers.set("x-fig-shadow", "1");
    // Plain bytes to compare; the primary's own answer is decoded if it came encoded.
    headers.set("accept-encoding", "identity");
    const mirrored: UpstreamRequest = { method: "GET", url: request.url, headers, body: null };
    const response = await send(upstream, mirrored, AbortSignal.timeout(timeoutMs));
    if (!readBody) {
      await response.body?.cancel();
      return { status: response.status, body: undefined };
    }
    return { status: response.status, body: await capture(response) };
  };

  const capture = (response: Response): Promise<CapturedBody> => {
    const decoded = decodedBody(response.body, response.headers.get("content-encoding"));
    if (!decoded) {
      response.body?.cancel().catch(() => {});
      return Promise.resolve({ kind: "error", error: new Error("unsupported content-encoding") });
    }
    return captureBody(decoded.body, bodyCapBytes);
  };

  async function compare(job: Job): Promise<void> {
    const { plan, stats } = job;
    const readBodies = job.body !== undefined;
    const [primaryBody, candidate, second] = await Promise.all([
      job.body,
      ask(plan.candidate, plan.request, readBodies).catch((error: unknown) => ({ error })),
      job.noise
        ? ask(plan.primary, plan.request, readBodies).catch((error: unknown) => ({ error }))
        : undefined,
    ]);
    if ("error" in candidate) {
      stats.candidateErrors++;
      logger?.debug(
        { err: candidate.error, route: plan.routeId, candidate: plan.candidate },
        "shadow request failed",
      );
      return;
    }
    const ignored = ignoreOf(plan.ignorePaths);
    const differences: FieldDifference[] = [];
    if (candidate.status !== job.status) {
      differences.push({ path: STATUS_PATH, primary: job.status, candidate: candidate.status });
    }
    const primaryJson = bodyJson(primaryBody);
    if (primaryBody?.kind === "too-large" || candidate.body?.kind === "too-large") stats.tooLarge++;
    else if (!primaryJson?.ok) stats.notJson++;
    else {
      const candidateJson = bodyJson(candidate.body);
      const candidateValue = candidateJson?.ok ? candidateJson.value : clip(textOf(candidate.body));
      for (const difference of diffJson(primaryJson.value, candidateValue)) {
        if (!ignored(difference.path)) differences.push(difference);
      }
    }

    if (second && "error" in second) stats.noiseErrors++;
    else if (second) {
      stats.noiseSamples++;
      const noisy = new Set<string>();
      if (second.status !== job.status) noisy.add(STATUS_PATH);
      const secondJson = bodyJson(second.body);
      if (primaryJson?.ok && secondJson?.ok) {
        for (const difference of diffJson(primaryJson.value, secondJson.value)) {
          if (!ignored(difference.path)) noisy.add(generalize(difference.path));
        }
      }
      for (const path of noisy) stats.noise.set(path, (stats.noise.get(path) ?? 0) + 1);
    }

    record(stats, job, candidate.status, differences);
  }

  const record = (stats: RouteStats, job: Job, candidateStatus: number, differences: FieldDifference[]) => {
    const paths = [...new Set(differences.map((d) => generalize(d.path)))].sort();
    const key = paths.join("\n");
    const signature = stats.signatures.get(key);
    if (signature) signature.count++;
    else if (stats.signatures.size < MAX_SIGNATURES) stats.signatures.set(key, { paths, count: 1 });
    else stats.overflow[classify(paths, stats.noise)]++;

    const real = differences.filter((d) => !stats.noise.has(generalize(d.path)));
    if (real.length === 0) return;
    stats.samples.push({
      at: new Date().toISOString(),
      request: pathAndQuery(job.plan.request.url),
      requestId: job.plan.request.headers.get("x-request-id") ?? undefined,
      primary: job.plan.primary,
      candidate: job.plan.candidate,
      status: { primary: job.status, candidate: candidateStatus },
      fields: differences
        .slice(0, MAX_RAW_FIELDS)
        .map((d) => ({ ...d, primary: clip(d.primary), candidate: clip(d.candidate) })),
    });
    if (stats.samples.length > samplesPerRoute) stats.samples.shift();
  };

  return {
    maybeMirror(plan) {
      const { response } = plan;
      if (plan.request.method !== "GET" || plan.percent <= 0 || plan.primary === plan.candidate)
        return response;
      if (random() * 100 >= plan.percent) return response;
      const stats = statsOf(plan.routeId, plan.candidate);
      if (outstanding >= queueMax) {
        stats.dropped++;
        return response;
      }
      stats.mirrored++;
      outstanding++;

      let body: Promise<CapturedBody> | undefined;
      const declared = Number(response.headers.get("content-length") ?? Number.NaN);
      if (!isJsonContentType(response.headers.get("content-type"))) body = undefined;
      else if (declared > bodyCapBytes) body = Promise.resolve({ kind: "too-large" });
      else if (!response.body) body = Promise.resolve({ kind: "ok", text: "" });
      // clone() tees the body: `response` keeps streaming to the client, the copy is read here up to the cap.
      else body = capture(response.clone());
      waiting.push({ plan, stats, status: response.status, body, noise: random() < noiseShare });
      pump();
      return response;
    },

    snapshot() {
      return {
        queue: { max: queueMax, outstanding },
        routes: [...routes].map(([route, stats]) => routeReport(route, stats, fieldsPerSample)),
      };
    },

    drained() {
      if (outstanding === 0) return Promise.resolve();
      if (!idle) {
        let resolve = () => {};
        const promise = new Promise<void>((r) => {
          resolve = r;
        });
        idle = { promise, resolve };
      }
      return idle.promise;
    },
  };
}

function classify(paths: string[], noise: Map<string, number>): "matches" | "mismatches" | "noiseOnly" {
  if (paths.length === 0) return "matches";
  return paths.some((path) => !noise.has(path)) ? "mismatches" : "noiseOnly";
}

function routeReport(route: string, stats: RouteStats, fieldsPerSample: number): ShadowRouteReport {
  const counts = { ...stats.overflow };
  for (const { paths, count } of stats.signatures.values()) counts[classify(paths, stats.noise)] += count;
  const compared = counts.matches + counts.mismatches + counts.noiseOnly;
  const samples: ShadowSample[] = [];
  for (const sample of stats.samples) {
    const fields = sample.fields.filter((d) => !stats.noise.has(generalize(d.path)));
    if (fields.length === 0) continue;
    samples.push({
      ...sample,
      fields: fields.slice(0, fieldsPerSample),
      truncated: fields.length > fieldsPerSample,
    });
  }
  return {
    route,
    candidate: stats.candidate,
    mirrored: stats.mirrored,
    dropped: stats.dropped,
    compared,
    ...counts,
    mismatchRate: compared === 0 ? 0 : counts.mismatches / compared,
    candidateErrors: stats.candidateErrors,
    bodiesNotCompared: { tooLarge: stats.tooLarge, notJson: stats.notJson },
    noise: {
      samples: stats.noiseSamples,
      errors: stats.noiseErrors,
      fields: [...stats.noise].map(([path, count]) => ({ path, count })),
    },
    samples,
  };
}

function bodyJson(body: CapturedBody | undefined) {
  return body?.kind === "ok" ? parseJson(body.text) : undefined;
}

function textOf(body: CapturedBody | undefined): string {
  return body?.kind === "ok" ? body.text : "";
}

/** Keeps a sample small: a large value becomes a preview string. */
function clip(value: unknown): unknown {
  if (value === undefined) return undefined;
  const json = typeof value === "string" ? value : JSON.stringify(value);
  if (json.length <= VALUE_PREVIEW_CHARS) return value;
  return `${json.slice(0, VALUE_PREVIEW_CHARS)}… (${json.length} chars)`;
}

function pathAndQuery(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

/** What `routeMirror` reads of a route: its id and its shadow policy (routes.ts `RoutePolicies["shadow"]`). */
export type ShadowedRoute = {
  id: string;
  policies: { shadow: { percent: number; candidate: UpstreamName; ignorePaths: readonly string[] } | false };
};

/**
 * The proxy's mirror hook over a shadow: the route's own shadow policy says how much, to whom, and what to ignore.
 *
 * @example
 * createProxyHandler({ ..., mirror: routeMirror(createShadow({ fetch: send, logger })) });
 */
export function routeMirror(shadow: Shadow) {
  return function mirror(
    route: ShadowedRoute,
    request: UpstreamRequest,
    primary: Response,
    upstream: UpstreamName,
  ): void {
    const policy = route.policies.shadow;
    // At 0 % (every route until a promotion's shadow step) there is nothing to decide: no plan to build.
    if (!policy || policy.percent <= 0) return;
    shadow.maybeMirror({
      routeId: route.id,
      percent: policy.percent,
      candidate: policy.candidate,
      primary: upstream,
      request,
      response: primary,
      ignorePaths: policy.ignorePaths,
    });
  };
}
