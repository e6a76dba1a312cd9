import type { SendFn, UpstreamName, UpstreamRequest } from "../types.ts";
import { type CapturedBody, captureBody, decodedBody, isJsonContentType, parseJson } from "./capture.ts";
import { compileIgnore, diffJson, type FieldDifference, generalize, STATUS_PATH } from "./diff.ts";
import type { ShadowReport } from "./report.ts";
import { clip, createShadowStats, type RouteStats } from "./stats.ts";

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

/**
 * Shadow traffic: mirrors a share of a route's GETs to a candidate upstream off the request path, compares
 * status and JSON body with the primary's (ignored paths left out), and reports matches, mismatches and a
 * bounded sample of diffs. The noise baseline (after Twitter's Diffy): for `noiseShare` of the mirrors the
 * primary is asked twice, and fields that differ between its two answers are noise, left out of the
 * mismatch rate, retroactively too, since requests are kept grouped by which fields differed.
 *
 * The client never waits: the queue is bounded (`queueMax`, drops counted), and the primary body is
 * compared from a tee whose comparison branch is read eagerly and cancelled past `bodyCapBytes`.
 * The statistics and the report built from them are stats.ts; this is the mirroring and the comparison.
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
  const stats = createShadowStats({ samplesPerRoute, fieldsPerSample });
  const queue = createJobQueue<Job>(concurrency, (job) =>
    compare(job).catch((error: unknown) =>
      logger?.warn({ err: error, route: job.plan.routeId }, "shadow comparison failed"),
    ),
  );
  const ignoreCache = new Map<string, (pointer: string) => boolean>();

  const ignoreOf = (patterns: readonly string[] = []) => {
    const key = patterns.join("\n");
    let matcher = ignoreCache.get(key);
    if (!matcher) {
      matcher = compileIgnore(patterns);
      ignoreCache.set(key, matcher);
    }
    return matcher;
  };

  const limits = { timeoutMs, bodyCapBytes };
  const ask = (upstream: UpstreamName, request: UpstreamRequest, readBody: boolean) =>
    askUpstream(send, upstream, request, readBody, limits);

  async function compare(job: Job): Promise<void> {
    const { plan } = job;
    const readBodies = job.body !== undefined;
    const [primaryBody, candidate, second] = await Promise.all([
      job.body,
      ask(plan.candidate, plan.request, readBodies).catch((error: unknown) => ({ error })),
      job.noise
        ? ask(plan.primary, plan.request, readBodies).catch((error: unknown) => ({ error }))
        : undefined,
    ]);
    if ("error" in candidate) {
      job.stats.candidateErrors++;
      logger?.debug(
        { err: candidate.error, route: plan.routeId, candidate: plan.candidate },
        "shadow request failed",
      );
      return;
    }
    const ignored = ignoreOf(plan.ignorePaths);
    const primaryJson = bodyJson(primaryBody);
    const primary = { status: job.status, body: primaryBody, json: primaryJson };
    const differences = differencesOf(primary, candidate, ignored, job.stats);

    if (second && "error" in second) job.stats.noiseErrors++;
    else if (second) stats.recordNoise(job.stats, noisyPaths(job.status, primaryJson, second, ignored));

    stats.recordComparison(job.stats, {
      request: plan.request,
      primary: plan.primary,
      candidate: plan.candidate,
      status: { primary: job.status, candidate: candidate.status },
      differences,
    });
  }

  return {
    maybeMirror(plan) {
      const { response } = plan;
      if (plan.request.method !== "GET" || plan.percent <= 0 || plan.primary === plan.candidate)
        return response;
      if (random() * 100 >= plan.percent) return response;
      const routeStats = stats.of(plan.routeId, plan.candidate);
      if (queue.outstanding() >= queueMax) {
        routeStats.dropped++;
        return response;
      }
      routeStats.mirrored++;

      let body: Promise<CapturedBody> | undefined;
      const declared = Number(response.headers.get("content-length") ?? Number.NaN);
      if (!isJsonContentType(response.headers.get("content-type"))) body = undefined;
      else if (declared > bodyCapBytes) body = Promise.resolve({ kind: "too-large" });
      else if (!response.body) body = Promise.resolve({ kind: "ok", text: "" });
      // clone() tees the body: `response` keeps streaming to the client, the copy is read here up to the cap.
      else body = capture(response.clone(), bodyCapBytes);
      queue.push({ plan, stats: routeStats, status: response.status, body, noise: random() < noiseShare });
      return response;
    },

    snapshot() {
      return {
        queue: { max: queueMax, outstanding: queue.outstanding() },
        routes: stats.report(),
      };
    },

    drained: queue.drained,
  };
}

/**
 * Runs jobs `concurrency` at a time, in arrival order. `outstanding` counts those waiting and running;
 * `drained` resolves once it is 0.
 */
function createJobQueue<J>(concurrency: number, run: (job: J) => Promise<unknown>) {
  const waiting: J[] = [];
  let outstanding = 0;
  let inFlight = 0;
  let idle: { promise: Promise<void>; resolve: () => void } | undefined;

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
      inFlight++;
      run(waiting.shift() as J).finally(finish);
    }
  };

  return {
    outstanding: () => outstanding,
    push(job: J) {
      outstanding++;
      waiting.push(job);
      pump();
    },
    drained(): Promise<void> {
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

type Answer = { status: number; body: CapturedBody | undefined };

/** A mirrored GET (marked `x-fig-shadow`, asked unencoded) to one upstream; its body captured up to the cap. */
async function askUpstream(
  send: SendFn,
  upstream: UpstreamName,
  request: UpstreamRequest,
  readBody: boolean,
  { timeoutMs, bodyCapBytes }: { timeoutMs: number; bodyCapBytes: number },
): Promise<Answer> {
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
  return { status: response.status, body: await capture(response, bodyCapBytes) };
}

function capture(response: Response, bodyCapBytes: number): Promise<CapturedBody> {
  const decoded = decodedBody(response.body, response.headers.get("content-encoding"));
  if (!decoded) {
    response.body?.cancel().catch(() => {});
    return Promise.resolve({ kind: "error", error: new Error("unsupported content-encoding") });
  }
  return captureBody(decoded.body, bodyCapBytes);
}

/**
 * How the candidate's answer differs from the primary's: status, then the JSON body's fields (ignored
 * paths left out). A body too large or not JSON is compared by status only, and counted so.
 */
function differencesOf(
  primary: Answer & { json: ReturnType<typeof bodyJson> },
  candidate: Answer,
  ignored: (pointer: string) => boolean,
  stats: RouteStats,
): FieldDifference[] {
  const differences: FieldDifference[] = [];
  if (candidate.status !== primary.status) {
    differences.push({ path: STATUS_PATH, primary: primary.status, candidate: candidate.status });
  }
  if (primary.body?.kind === "too-large" || candidate.body?.kind === "too-large") stats.tooLarge++;
  else if (!primary.json?.ok) stats.notJson++;
  else {
    const candidateJson = bodyJson(candidate.body);
    const candidateValue = candidateJson?.ok ? candidateJson.value : clip(textOf(candidate.body));
    for (const difference of diffJson(primary.json.value, candidateValue)) {
      if (!ignored(difference.path)) differences.push(difference);
    }
  }
  return differences;
}

/** The fields in which the primary's second answer differed from its first: noise, generalized. */
function noisyPaths(
  status: number,
  primaryJson: ReturnType<typeof bodyJson>,
  second: Answer,
  ignored: (pointer: string) => boolean,
): Set<string> {
  const noisy = new Set<string>();
  if (second.status !== status) noisy.add(STATUS_PATH);
  const secondJson = bodyJson(second.body);
  if (primaryJson?.ok && secondJson?.ok) {
    for (const difference of diffJson(primaryJson.value, secondJson.value)) {
      if (!ignored(difference.path)) noisy.add(generalize(difference.path));
    }
  }
  return noisy;
}

function bodyJson(body: CapturedBody | undefined) {
  return body?.kind === "ok" ? parseJson(body.text) : undefined;
}

function textOf(body: CapturedBody | undefined): string {
  return body?.kind === "ok" ? body.text : "";
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
