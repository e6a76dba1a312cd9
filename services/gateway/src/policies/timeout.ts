import { AppError } from "@fig/service";
import type { UpstreamName } from "./types.ts";

/**
 * A route's deadline across all its attempts, by default: a hung upstream frees the client and its connection
 * after 10 s.
 */
export const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * A signal that aborts after `ms` (reason: a `TimeoutError` DOMException) or when the client's own signal
 * aborts (the client went away), whichever comes first. Passed to `fetch`, it aborts the upstream request:
 * the upstream sees its `request.signal` abort.
 *
 * @example
 * const response = await fetch(url, { signal: timeoutSignal(route.timeoutMs, c.req.raw.signal) });
 */
export function timeoutSignal(ms: number, clientSignal?: AbortSignal): AbortSignal {
  const timer = AbortSignal.timeout(ms);
  return clientSignal ? AbortSignal.any([timer, clientSignal]) : timer;
}

/** A deadline the caller can stop once it no longer needs it (see `startDeadline`). */
export type Deadline = {
  /** Aborts at the deadline (reason `TimeoutError`) or with the client's signal. */
  readonly signal: AbortSignal;
  /** True once the deadline itself (not the client) fired. */
  readonly expired: boolean;
  /** Stops the timer; the client's signal still aborts `signal`. Idempotent. */
  stop(): void;
};

/**
 * A route deadline shared by every attempt of one request (as Envoy's route timeout spans its retries).
 * The proxy stops it once response headers arrive, so a long download or a Server-Sent Events stream is
 * not cut at the deadline: the timeout bounds the wait for an answer, not the length of the answer.
 */
export function startDeadline(ms: number, clientSignal?: AbortSignal): Deadline {
  const controller = new AbortController();
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort(new DOMException(`No response within ${ms} ms`, "TimeoutError"));
  }, ms);
  // One controller and a listener on the client's signal rather than AbortSignal.any([deadline, client]):
  // the same signal for ≈ 10 µs less per request (bench/README.md). The listener lives as long as the
  // client's per-request signal, so the client leaving mid-body still aborts the upstream after stop().
  if (clientSignal?.aborted) controller.abort(clientSignal.reason);
  else clientSignal?.addEventListener("abort", () => controller.abort(clientSignal.reason), { once: true });
  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    stop: () => clearTimeout(timer),
  };
}

/** True for the error fetch throws when a timeout signal fired. */
export function isTimeoutError(error: unknown): boolean {
  return error instanceof DOMException && error.name === "TimeoutError";
}

/** True for the error fetch throws when the client's signal fired (the client went away): no upstream's fault. */
export function isAbortError(error: unknown): boolean {
  return error instanceof DOMException && error.name === "AbortError";
}

/** The 504 `gateway_timeout` problem for a request whose route deadline passed before `upstream` answered. */
export function gatewayTimeout(
  upstream: UpstreamName,
  timeoutMs: number,
  options: { cause?: unknown; headers?: Record<string, string> } = {},
): AppError {
  return new AppError("gateway_timeout", `Upstream ${upstream} did not answer within ${timeoutMs} ms`, {
    extensions: { upstream, timeoutMs },
    ...options,
  });
}
