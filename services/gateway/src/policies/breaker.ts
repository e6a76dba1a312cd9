import {
  BrokenCircuitError,
  type CircuitBreakerPolicy,
  CircuitState,
  circuitBreaker,
  type FailureReason,
  handleWhen,
  type IBreaker,
  SamplingBreaker,
} from "cockatiel";
import { isAbortError, isTimeoutError } from "./timeout.ts";
import type { UpstreamName } from "./types.ts";

export type BreakerState = "closed" | "open" | "half-open" | "isolated";

export type BreakerStateChange = { upstream: UpstreamName; from: BreakerState; to: BreakerState; at: Date };

export type BreakerOptions = {
  /** Failure share that opens the breaker (50 %: a candidate failing that often serves worse than the monolith). */
  threshold?: number;
  /**
   * Fewest requests in the window before the share counts (20 in 10 s: fewer cannot tell a failing upstream
   * from bad luck).
   */
  minimumRequests?: number;
  /** Sampling window (10 s). */
  windowMs?: number;
  /** How long an open breaker refuses before letting one probe through (5 s). */
  halfOpenAfterMs?: number;
  /**
   * Connection failures in a row (no answer at all: refused, reset) that open the breaker at once, whatever
   * the share over the window: Envoy's outlier ejection on consecutive local-origin failures (5).
   */
  consecutiveConnectionFailures?: number;
};

export type Breakers = {
  /**
   * True while `upstream` must not get traffic: open and still cooling down, or half-open with its one probe
   * in flight. The proxy moves such an upstream's share to the monolith. Once the cool-down has passed
   * it is false again, so the next request is the half-open probe.
   */
  isOpen(upstream: UpstreamName): boolean;
  /**
   * Runs one attempt at `upstream` through its breaker. A 5xx response or a thrown error counts as a failure
   * (a client abort does not: the client leaving says nothing about the upstream). Throws `BrokenCircuitError`
   * without calling `fn` while `isOpen(upstream)`.
   */
  run<T>(upstream: UpstreamName, fn: () => Promise<T>): Promise<T>;
  /** `run(upstream, () => fn(a, b, c))` without the closure: the proxy's attempt, `call(name, send, name, request, signal)`. */
  call<A, B, C, T>(
    upstream: UpstreamName,
    fn: (a: A, b: B, c: C) => Promise<T>,
    a: A,
    b: B,
    c: C,
  ): Promise<T>;
  state(upstream: UpstreamName): BreakerState;
  /** Every upstream that has been seen, with its state: for `/metrics` and `/_fig/routes`. */
  states(): Record<UpstreamName, BreakerState>;
  /** Subscribe to state changes (log them, count them); returns the unsubscribe function. */
  onStateChange(listener: (change: BreakerStateChange) => void): () => void;
};

const stateName: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: "closed",
  [CircuitState.Open]: "open",
  [CircuitState.HalfOpen]: "half-open",
  [CircuitState.Isolated]: "isolated",
};

/** An answer that counts as a failure: a 5xx response. */
const failedAnswer = (result: unknown) => result instanceof Response && result.status >= 500;

/** Failures: thrown errors other than client aborts, and 5xx responses. */
const failurePolicy = handleWhen((error) => !isAbortError(error)).orWhenResult(failedAnswer);

/** A connection failure: fetch threw, not because the client left or the route deadline passed. */
function isConnectionFailure(error: unknown): boolean {
  return !isAbortError(error) && !isTimeoutError(error) && !(error instanceof BrokenCircuitError);
}

/**
 * The share over the window (cockatiel's SamplingBreaker) or `limit` connection failures in a row, whichever
 * comes first. A dead upstream is taken out after a handful of refusals, not after its failures outweigh the
 * window's earlier successes (at 50 % of 2,500 requests/s that took seconds). Any answer, even a 5xx, ends
 * the streak, since the upstream was reached. The failure at hand is the policy's `lastFailure`, which
 * cockatiel records just before it asks the breaker: no wrapper, no allocation per request.
 */
class SampleOrStreakBreaker implements IBreaker {
  private streak = 0;
  constructor(
    private readonly sampling: SamplingBreaker,
    private readonly limit: number,
    private readonly lastFailure: () => FailureReason<unknown> | undefined,
  ) {}
  get state(): unknown {
    return this.sampling.state;
  }
  set state(value: unknown) {
    this.sampling.state = value;
  }
  success(state: CircuitState): void {
    this.streak = 0;
    this.sampling.success(state);
  }
  failure(state: CircuitState): boolean {
    const last = this.lastFailure();
    this.streak = last && "error" in last && isConnectionFailure(last.error) ? this.streak + 1 : 0;
    // Both are asked: the window must count this failure even when the streak alone opens the breaker.
    const sampled = this.sampling.failure(state);
    return sampled || this.streak >= this.limit;
  }
}

/**
 * One cockatiel circuit breaker per upstream: it opens at ≥ `threshold` failures over ≥ `minimumRequests`
 * requests in `windowMs`, or at once after `consecutiveConnectionFailures` connection failures in a row;
 * half-opens after `halfOpenAfterMs`, and closes on one successful probe (or re-opens on a failed one).
 *
 * @example
 * const breakers = createBreakers();
 * breakers.onStateChange(({ upstream, to }) => logger.warn({ upstream, breaker: to }, "breaker changed"));
 * const response = await breakers.run("validation", () => send("validation", request, signal));
 */
export function createBreakers({
  threshold = 0.5,
  minimumRequests = 20,
  windowMs = 10_000,
  halfOpenAfterMs = 5000,
  consecutiveConnectionFailures = 5,
}: BreakerOptions = {}): Breakers {
  type Entry = {
    policy: CircuitBreakerPolicy;
    openedAt: number;
    /** The closed breaker's settle handlers, made once per upstream (see `run`). */
    answered: (result: unknown) => unknown;
    failed: (error: unknown) => unknown;
  };
  const policies = new Map<UpstreamName, Entry>();
  const listeners = new Set<(change: BreakerStateChange) => void>();

  const entry = (upstream: UpstreamName) => {
    let found = policies.get(upstream);
    if (found) return found;
    const sampling = new SamplingBreaker({
      // SamplingBreaker opens when failures > threshold × total; a hair below turns that into ≥.
      threshold: threshold - 1e-9,
      duration: windowMs,
      // cockatiel's minimum is a rate per second over the window: 20 requests in 10 s is 2/s.
      minimumRps: minimumRequests / (windowMs / 1000),
    });
    const breaker = new SampleOrStreakBreaker(
      sampling,
      consecutiveConnectionFailures,
      () => policy.lastFailure,
    );
    const policy = circuitBreaker(failurePolicy, { halfOpenAfter: halfOpenAfterMs, breaker });
    // A success while closed is what cockatiel's execute records itself (breaker.success(Closed)); anything
    // else, a failure or an error it may ignore (a client abort), is handed to cockatiel as the settled outcome
    // so its policy counts it, opens and emits as before. Handed over only while still closed: open or
    // half-open by now, execute would refuse it or make it the probe, so it is returned as it came, uncounted.
    const answered = (result: unknown) => {
      if (!failedAnswer(result)) breaker.success(CircuitState.Closed);
      else if (policy.state === CircuitState.Closed) return policy.execute(() => Promise.resolve(result));
      return result;
    };
    const failed = (error: unknown) => {
      if (policy.state === CircuitState.Closed) return policy.execute(() => Promise.reject(error));
      throw error;
    };
    const created: Entry = { policy, openedAt: 0, answered, failed };
    let previous: BreakerState = "closed";
    policy.onStateChange((state) => {
      const to = stateName[state];
      if (to === "open") created.openedAt = Date.now();
      const change = { upstream, from: previous, to, at: new Date() };
      previous = to;
      for (const listener of listeners) listener(change);
    });
    policies.set(upstream, created);
    found = created;
    return found;
  };

  const isOpen = (upstream: UpstreamName) => {
    const found = policies.get(upstream);
    if (!found) return false;
    switch (found.policy.state) {
      case CircuitState.Closed:
        return false;
      case CircuitState.Open:
        return Date.now() - found.openedAt < halfOpenAfterMs;
      default:
        // Half-open: cockatiel would park further calls until the probe decides; send them elsewhere instead.
        return true;
    }
  };

  // Closed (nearly every request): the attempt itself and one `then`, not cockatiel's execute and invoke (two
  // async frames, an argument array, a result object). Open or half-open: cockatiel's execute as is.
  const call: Breakers["call"] = (upstream, fn, a, b, c) => {
    const found = entry(upstream);
    if (isOpen(upstream)) return Promise.reject(new BrokenCircuitError());
    if (found.policy.state !== CircuitState.Closed) return executeCall(found.policy, fn, a, b, c);
    return fn(a, b, c).then(found.answered, found.failed) as Promise<Awaited<ReturnType<typeof fn>>>;
  };

  return {
    isOpen,
    run: (upstream, fn) => call(upstream, fn, undefined, undefined, undefined),
    call,
    state: (upstream) => {
      const found = policies.get(upstream);
      return found ? stateName[found.policy.state] : "closed";
    },
    states: () =>
      Object.fromEntries([...policies].map(([name, { policy }]) => [name, stateName[policy.state]])),
    onStateChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * cockatiel's execute of `fn(a, b, c)`: the closure is made here, not in `call`, whose every run would otherwise
 * allocate the scope it captures (JSC makes a function's captured scope on entry, whether or not the closure is).
 */
function executeCall<A, B, C, T>(
  policy: CircuitBreakerPolicy,
  fn: (a: A, b: B, c: C) => Promise<T>,
  a: A,
  b: B,
  c: C,
): Promise<T> {
  return policy.execute(() => fn(a, b, c));
}

export { BrokenCircuitError };
