/**
 * Exponential backoff, the one rule every retry in Fig follows (event redelivery, the validation worker,
 * the outbox relay, read-model seeding): attempt n waits `initialMs × factor^(n-1)`, capped at `maxMs`.
 * Deterministic on purpose: JetStream redelivery delays and tests can both rely on the value.
 */
export type Backoff = {
  initialMs: number;
  maxMs: number;
  /** Growth per attempt (default 2). */
  factor?: number;
};

/**
 * The delay before retry number `attempt` (1 = the first retry).
 *
 * @example
 * backoffDelayMs({ initialMs: 200, maxMs: 15_000, factor: 5 }, 3) // 5000
 */
export function backoffDelayMs({ initialMs, maxMs, factor = 2 }: Backoff, attempt: number): number {
  const n = Math.max(1, Math.floor(attempt));
  // Math.min first so a large attempt count cannot overflow to Infinity × 0 = NaN.
  return Math.min(maxMs, initialMs * factor ** Math.min(n - 1, 64));
}

/** A constant delay, as a Backoff (tests, fixed-rate polling). */
export const constantBackoff = (ms: number): Backoff => ({ initialMs: ms, maxMs: ms, factor: 1 });
