import { isAbortError, isTimeoutError } from "./timeout.ts";
import type { Outcome } from "./types.ts";

/**
 * One retry per request by default: it rescues a transient failure; more would multiply the load on an
 * upstream that is already failing.
 */
export const DEFAULT_MAX_RETRIES = 1;

/**
 * Idempotent methods (RFC 9110 §9.2.2). Only these are ever retried; POST and PATCH never are.
 * Safe ones (RFC 9110 §9.2.1) may be retried on another upstream; PUT and DELETE only on the one they
 * were sent to, the route's write owner, since a write must not land on a side that does not own the data.
 */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
const SAFE = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
const RETRYABLE_STATUS = new Set([502, 503, 504]);

export function isSafeMethod(method: string): boolean {
  return SAFE.has(method.toUpperCase());
}

/**
 * Whether an attempt may be retried: an idempotent method that met a connection error (fetch threw,
 * not because the client left or the route deadline passed: the deadline spans the retries) or a
 * 502/503/504 answer. Bodies: only bodiless requests are retried, since a streamed request body has
 * been consumed by the first attempt and cannot be replayed (the caller passes `hasBody`).
 *
 * @example
 * isRetryable("GET", { upstream: "validation", response }) // true for a 503
 * isRetryable("POST", { upstream: "validation", error })   // always false
 */
export function isRetryable(method: string, outcome: Outcome, hasBody = false): boolean {
  if (outcome.response) return retryableAnswer(method, outcome.response.status, hasBody);
  if (hasBody || !IDEMPOTENT.has(method.toUpperCase())) return false;
  if (outcome.error === undefined) return false;
  return !isAbortError(outcome.error) && !isTimeoutError(outcome.error);
}

/** `isRetryable` of an answer with `status`, without an outcome object. */
export function retryableAnswer(method: string, status: number, hasBody = false): boolean {
  return !hasBody && RETRYABLE_STATUS.has(status) && IDEMPOTENT.has(method.toUpperCase());
}

export type RetryBudgetOptions = {
  /** Retries allowed as a share of requests over the window (Envoy's `budget_percent`, 20 %). */
  ratio?: number;
  /** Retries always allowed per second, however little traffic there is (Envoy: `min_retry_concurrency` 3). */
  minRetriesPerSecond?: number;
  /** Length of the sliding window requests and retries are counted over. */
  windowMs?: number;
  /** Clock, for tests. */
  now?: () => number;
};

export type RetryBudget = {
  /** Count one original request (not a retry). */
  recordRequest(): void;
  /** Take one retry from the budget; false when it is spent (then do not retry). */
  tryAcquire(): boolean;
  /** Counts in the current window, for metrics. */
  stats(): { requests: number; retries: number; rejected: number };
};

/**
 * A windowed retry budget: retries are allowed while they stay under `ratio` × requests over the last
 * `windowMs`, plus a floor of `minRetriesPerSecond` so a quiet route can still retry. Envoy's budget
 * (budget_percent 20 %, min_retry_concurrency 3) counts concurrent requests; a window of counts says the
 * same for short requests and is what Linkerd and tower use. Above 15 requests/s the floor is irrelevant
 * and retries add at most 20 % load; below it the floor (3/s) dominates.
 *
 * Counts live in 1 s buckets (or windowMs / 10, whichever is smaller), so memory is constant.
 *
 * @example
 * const budget = createRetryBudget();
 * budget.recordRequest();
 * if (isRetryable(method, outcome) && budget.tryAcquire()) retry();
 */
export function createRetryBudget({
  ratio = 0.2,
  minRetriesPerSecond = 3,
  windowMs = 10_000,
  now = Date.now,
}: RetryBudgetOptions = {}): RetryBudget {
  const bucketMs = Math.min(1000, Math.max(1, Math.floor(windowMs / 10)));
  const bucketCount = Math.max(1, Math.ceil(windowMs / bucketMs));
  const buckets = Array.from({ length: bucketCount }, () => ({ index: -1, requests: 0, retries: 0 }));
  let rejected = 0;

  const bucketAt = (index: number) => {
    const bucket = buckets[index % bucketCount] as (typeof buckets)[number];
    if (bucket.index !== index) {
      bucket.index = index;
      bucket.requests = 0;
      bucket.retries = 0;
    }
    return bucket;
  };
  const totals = (current: number) => {
    let requests = 0;
    let retries = 0;
    for (const bucket of buckets) {
      if (bucket.index > current - bucketCount && bucket.index <= current) {
        requests += bucket.requests;
        retries += bucket.retries;
      }
    }
    return { requests, retries };
  };
  const retriesInLastSecond = (current: number) => {
    const span = Math.max(1, Math.round(1000 / bucketMs));
    let retries = 0;
    for (const bucket of buckets)
      if (bucket.index > current - span && bucket.index <= current) retries += bucket.retries;
    return retries;
  };

  return {
    recordRequest() {
      bucketAt(Math.floor(now() / bucketMs)).requests++;
    },
    tryAcquire() {
      const current = Math.floor(now() / bucketMs);
      const { requests, retries } = totals(current);
      const allowed = retries + 1 <= ratio * requests || retriesInLastSecond(current) < minRetriesPerSecond;
      if (!allowed) {
        rejected++;
        return false;
      }
      bucketAt(current).retries++;
      return true;
    },
    stats() {
      return { ...totals(Math.floor(now() / bucketMs)), rejected };
    },
  };
}

/** Full-jitter backoff before a retry on the same upstream (Envoy: 25 ms base); none when switching upstream. */
export function retryDelayMs(sameUpstream: boolean, baseMs = 25): number {
  return sameUpstream ? Math.floor(Math.random() * baseMs) : 0;
}
