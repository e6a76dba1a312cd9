import { type Backoff, backoffDelayMs } from "./backoff.ts";

/** Resolves after `ms`, or at once (rejecting with the signal's reason) when `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export type RetryOptions = {
  backoff: Backoff;
  /** Stops the retries (and the wait between them) at once; the attempt in flight sees it too. */
  signal?: AbortSignal;
  /** Give up after this many attempts (default: never). */
  maxAttempts?: number;
  /** Told about each failure before the wait: log it here. */
  onRetry?: (info: { error: unknown; attempt: number; delayMs: number }) => void;
};

/**
 * Runs `attempt` until it resolves, waiting `backoff` between failures. Rejects with the last error after
 * `maxAttempts`, or with the abort reason as soon as `signal` aborts (never waits out a delay on shutdown).
 *
 * cockatiel's RetryPolicy was the first choice, but its wait between attempts is a plain timer that an
 * AbortSignal does not cut short, which is exactly what shutdown needs; hence these few lines.
 *
 * @example
 * await retry((signal) => syncReferenceData(db, source, signal), {
 *   backoff: { initialMs: 1000, maxMs: 30_000 }, signal: stop.signal,
 *   onRetry: ({ error, delayMs }) => logger.warn({ err: error, retryInMs: delayMs }, "retrying"),
 * });
 */
export async function retry<T>(
  attempt: (signal: AbortSignal, attemptNumber: number) => Promise<T>,
  {
    backoff,
    signal = new AbortController().signal,
    maxAttempts = Number.POSITIVE_INFINITY,
    onRetry,
  }: RetryOptions,
): Promise<T> {
  for (let n = 1; ; n++) {
    if (signal.aborted) throw signal.reason;
    try {
      return await attempt(signal, n);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (n >= maxAttempts) throw error;
      const delayMs = backoffDelayMs(backoff, n);
      onRetry?.({ error, attempt: n, delayMs });
      await abortableSleep(delayMs, signal);
    }
  }
}
