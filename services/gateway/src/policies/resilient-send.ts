import { AppError } from "@fig/service";
import { type Breakers, BrokenCircuitError } from "./breaker.ts";
import { fallbackOrder, shouldFallback } from "./read-fallback.ts";
import {
  DEFAULT_MAX_RETRIES,
  isRetryable,
  isSafeMethod,
  type RetryBudget,
  retryableAnswer,
  retryDelayMs,
} from "./retry.ts";
import {
  DEFAULT_TIMEOUT_MS,
  type Deadline,
  gatewayTimeout,
  isAbortError,
  isTimeoutError,
  startDeadline,
} from "./timeout.ts";
import type { Outcome, SendFn, UpstreamName, UpstreamRequest } from "./types.ts";
import { type FirstSend, neverReached, sendableAgain } from "./unreached.ts";

export type ForwardPlan = {
  /** The prepared upstream request (headers rewritten, body streaming). Sent as is to every attempt. */
  request: UpstreamRequest;
  /** The upstream the proxy picked (weights, stickiness, pin, breaker fallback). */
  upstream: UpstreamName;
  /** All of the route's upstreams in declared order: where read fallback may go. */
  upstreams: readonly UpstreamName[];
  /**
   * The route's live weights: a retry goes only to the first upstream and those above 0 % (default: any of
   * `upstreams`), so it never lands on a candidate at 0 % that may not even be deployed yet. Read fallback
   * still asks every upstream: a run created on the new service stays readable.
   */
  weights?: Readonly<Record<UpstreamName, number>>;
  /** The client's signal: the client leaving aborts the upstream request. */
  clientSignal?: AbortSignal;
  timeoutMs?: number;
  maxRetries?: number;
  /** The route declares read fallback: a GET answered 404 is asked of the other upstreams. */
  readFallback?: boolean;
  /** Pinned with `x-fig-route`: the caller wants this upstream's answer, so never another's. */
  pinned?: boolean;
  /** The route's breaker policy (default true); false: attempts bypass the breakers and are not counted. */
  breaker?: boolean;
  /**
   * Where the request goes, whatever its method, when the picked upstream certainly never got it (see
   * `neverReached`: a POST refused, the breaker's refusal): the route's stable upstream. It is not a retry,
   * since the failing upstream got nothing, so the retry budget is not charged. The proxy leaves it out when the upstream was not chosen by
   * weights (a pin, the write owner), since the request may then go nowhere else.
   */
  unreachedFallback?: UpstreamName;
};

export type Attempt = {
  upstream: UpstreamName;
  kind: "first" | "unreached" | "retry" | "fallback";
  status?: number;
  error?: string;
};

/** `attempts` may be shared between requests (frozen): read it, do not change it. */
export type ForwardResult = { response: Response; upstream: UpstreamName; attempts: Attempt[] };

export type ResilientSendOptions = {
  send: SendFn;
  /** Per-upstream circuit breakers; without them every upstream counts as closed. */
  breakers?: Breakers;
  /** The retry budget shared by the requests this sender forwards; without one, retries are not budgeted. */
  budget?: RetryBudget;
};

/**
 * Forwards one request with the route's resilience policies, in Envoy's order: a route deadline that spans
 * every attempt and aborts the upstream, a circuit breaker per upstream, a request that never reached the
 * picked upstream sent to `unreachedFallback` (any method, outside the budget), at most `maxRetries` retries of
 * idempotent bodiless requests on connection errors and 502/503/504 inside the retry budget (to another
 * upstream for safe methods, to the same one for PUT/DELETE), then read fallback of a 404 GET.
 * Throws an `AppError` (504 on the deadline, 503 when the breaker refuses, 502 on a connection error),
 * carrying `Fig-Served-By`, or the client's abort error as is when the client left.
 *
 * @example
 * const forward = createResilientSend({ send, breakers, budget });
 * const { response, upstream } = await forward({ request, upstream: "validation", upstreams: ["monolith", "validation"] });
 */
export function createResilientSend({ send, breakers, budget }: ResilientSendOptions) {
  return async function forward(plan: ForwardPlan): Promise<ForwardResult> {
    const { request } = plan;
    const guard = plan.breaker === false ? undefined : breakers;
    const method = request.method;
    const hasBody = request.body !== null;
    const maxRetries = plan.maxRetries ?? DEFAULT_MAX_RETRIES;
    const deadline = startDeadline(plan.timeoutMs ?? DEFAULT_TIMEOUT_MS, plan.clientSignal);
    budget?.recordRequest();
    const upstream = plan.upstream;
    // Only a body needs the wrapper: a bodiless request can always be sent again.
    const first = plan.unreachedFallback !== undefined && hasBody ? sendableAgain(request) : undefined;
    // The first attempt inline (no closure, outcome object or async frame of its own): nearly every request
    // ends with its answer, and then nothing below applies. No try/finally around it: in an async function
    // that costs a scope object per call; the deadline is stopped on each way out instead.
    const sent = first?.request ?? request;
    let response: Response | undefined;
    let error: unknown;
    try {
      response = await (guard
        ? guard.call(upstream, send, upstream, sent, deadline.signal)
        : send(upstream, sent, deadline.signal));
    } catch (thrown) {
      error = thrown;
    }
    if (
      response !== undefined &&
      !(maxRetries > 0 && retryableAnswer(method, response.status, hasBody)) &&
      !(plan.readFallback && !plan.pinned && shouldFallback(method, response))
    ) {
      // Headers are in: the deadline bounded the wait; the body streams as long as it needs.
      deadline.stop();
      return { response, upstream, attempts: firstAnswered(upstream, response.status) };
    }
    return further(plan, guard, deadline, first, { upstream, response, error });
  };

  /**
   * Unreached fallback, retries and read fallback after a first attempt that did not settle the request; the
   * deadline stopped on the way out (headers are in, or it failed: the body streams as long as it needs).
   */
  async function further(
    plan: ForwardPlan,
    guard: Breakers | undefined,
    deadline: Deadline,
    first: FirstSend | undefined,
    firstOutcome: Outcome,
  ): Promise<ForwardResult> {
    const attempts: Attempt[] = [
      firstOutcome.response
        ? { upstream: firstOutcome.upstream, kind: "first", status: firstOutcome.response.status }
        : { upstream: firstOutcome.upstream, kind: "first", error: errorName(firstOutcome.error) },
    ];
    try {
      const { request, upstreams } = plan;
      const method = request.method;
      const hasBody = request.body !== null;
      const timeoutMs = plan.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const maxRetries = plan.maxRetries ?? DEFAULT_MAX_RETRIES;
      // In the order tried (an upstream may repeat: a PUT retried where it failed); a Set only if a retry or fallback needs one.
      const tried: UpstreamName[] = [firstOutcome.upstream];

      const attempt = async (
        upstream: UpstreamName,
        kind: Attempt["kind"],
        sent: UpstreamRequest = request,
      ): Promise<Outcome> => {
        tried.push(upstream);
        try {
          const response = await (guard
            ? guard.call(upstream, send, upstream, sent, deadline.signal)
            : send(upstream, sent, deadline.signal));
          attempts.push({ upstream, kind, status: response.status });
          return { upstream, response };
        } catch (error) {
          attempts.push({ upstream, kind, error: errorName(error) });
          return { upstream, error };
        }
      };

      const rescue = plan.unreachedFallback;
      let outcome = firstOutcome;
      if (
        rescue !== undefined &&
        rescue !== outcome.upstream &&
        (first?.untouched() ?? true) &&
        neverReached(outcome.error, method) &&
        !deadline.signal.aborted
      ) {
        outcome = await attempt(rescue, "unreached");
      }
      for (let retries = 0; retries < maxRetries; retries++) {
        if (!isRetryable(method, outcome, hasBody) || deadline.signal.aborted) break;
        const next = retryTarget(plan, tried, guard, outcome.upstream);
        if (next === undefined || (budget && !budget.tryAcquire())) break;
        discard(outcome.response);
        const delay = retryDelayMs(next === outcome.upstream);
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        outcome = await attempt(next, "retry");
      }

      if (outcome.response && plan.readFallback && !plan.pinned && shouldFallback(method, outcome.response)) {
        for (const next of fallbackOrder(upstreams, tried, openIn(guard))) {
          const fallback = await attempt(next, "fallback");
          if (fallback.response && fallback.response.status !== 404) {
            discard(outcome.response);
            outcome = fallback;
            break;
          }
          discard(fallback.response);
        }
      }

      if (outcome.response) return { response: outcome.response, upstream: outcome.upstream, attempts };
      throw problemOf(outcome, timeoutMs, deadline.expired);
    } finally {
      deadline.stop();
    }
  }
}

/**
 * The attempts of a request its first attempt answered: one frozen array per upstream and status, shared by
 * every such request (read by the metrics; list merges copy them into their own array).
 */
const firstAnswers = new Map<UpstreamName, Map<number, Attempt[]>>();
function firstAnswered(upstream: UpstreamName, status: number): Attempt[] {
  let byStatus = firstAnswers.get(upstream);
  if (byStatus === undefined) {
    // Upstream names are the route table's; the bound is for a caller that makes them up.
    if (firstAnswers.size >= 1000) return [{ upstream, kind: "first", status }];
    byStatus = new Map();
    firstAnswers.set(upstream, byStatus);
  }
  let attempts = byStatus.get(status);
  if (attempts === undefined) {
    attempts = Object.freeze([Object.freeze({ upstream, kind: "first", status } as Attempt)]) as Attempt[];
    byStatus.set(status, attempts);
  }
  return attempts;
}

/** An attempt's error as the metrics name it. */
const errorName = (error: unknown): string => (error instanceof Error ? error.name : String(error));

function problemOf(outcome: Outcome, timeoutMs: number, expired: boolean): unknown {
  const { upstream, error } = outcome;
  const headers = { "fig-served-by": upstream };
  if (expired || isTimeoutError(error)) return gatewayTimeout(upstream, timeoutMs, { cause: error, headers });
  if (isAbortError(error)) return error;
  if (error instanceof BrokenCircuitError) {
    return new AppError("not_ready", `Circuit breaker open for upstream ${upstream}`, {
      extensions: { upstream },
      headers,
      cause: error,
    });
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new AppError("bad_gateway", `Upstream ${upstream} failed: ${reason}`, {
    extensions: { upstream },
    headers,
    cause: error,
  });
}

/** Whether an upstream's breaker is open (never, without breakers); made only when a retry or fallback is due. */
const openIn = (guard: Breakers | undefined) => (upstream: UpstreamName) => guard?.isOpen(upstream) ?? false;

/**
 * Where a retry goes: for a safe method not pinned, an upstream in service not tried yet; else the failed
 * one again (PUT/DELETE are idempotent there), unless its breaker is open.
 */
function retryTarget(
  plan: ForwardPlan,
  tried: Iterable<UpstreamName>,
  guard: Breakers | undefined,
  failed: UpstreamName,
): UpstreamName | undefined {
  const isOpen = openIn(guard);
  if (isSafeMethod(plan.request.method) && !plan.pinned) {
    const other = fallbackOrder(inService(plan.upstreams, plan.weights), tried, isOpen)[0];
    if (other) return other;
  }
  return isOpen(failed) ? undefined : failed;
}

/** The upstreams a retry may go to: the first (stable) one and those the weights give traffic. */
function inService(
  upstreams: readonly UpstreamName[],
  weights: Readonly<Record<UpstreamName, number>> | undefined,
): readonly UpstreamName[] {
  if (!weights) return upstreams;
  return upstreams.filter((name, i) => i === 0 || (weights[name] ?? 0) > 0);
}

/** Releases the connection of a response nobody will read. */
function discard(response: Response | undefined): void {
  response?.body?.cancel().catch(() => {});
}
