import type { Role } from "@fig/auth";
import type { RoutePolicies } from "../routes.ts";

export type RateDecision = {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the bucket is full again (RateLimit-Reset). */
  resetSeconds: number;
  /** Seconds until the next token, when refused (Retry-After). */
  retryAfterSeconds: number;
};

export type RateLimiter = {
  /** Takes one token from the consumer's bucket on the route. */
  take(routeId: string, consumer: string, limitPerMinute: number): RateDecision;
  size(): number;
};

const WINDOW_MS = 60_000;

/**
 * Token buckets in this process (per replica, like Kong's `local` policy): capacity `limit`, refilled
 * continuously at `limit` per minute, one bucket per (route, consumer). Bounded: past `maxKeys` the
 * oldest bucket is dropped (its consumer starts again full, erring towards admitting).
 *
 * Not rate-limiter-flexible: its RateLimiterMemory is a fixed window (up to twice the limit across a
 * window edge), arms one timer per key, and its package entry requires node:cluster and node:crypto,
 * which the request path must not import. A token bucket is a dozen lines of arithmetic.
 *
 * @example
 * const limiter = createRateLimiter();
 * const d = limiter.take("validation", "alice", 100);
 * if (!d.allowed) return 429;
 */
export function createRateLimiter({ maxKeys = 100_000, now = Date.now } = {}): RateLimiter {
  // Buckets by route, then by consumer (no key string built per request); `order` lists every bucket in the
  // order it was made, so the oldest is the one dropped past maxKeys.
  const routes = new Map<string, Map<string, Bucket>>();
  const order: { byConsumer: Map<string, Bucket>; consumer: string }[] = [];
  let oldest = 0;
  return {
    take(routeId, consumer, limit) {
      const t = now();
      const perMs = limit / WINDOW_MS;
      let byConsumer = routes.get(routeId);
      if (byConsumer === undefined) {
        byConsumer = new Map();
        routes.set(routeId, byConsumer);
      }
      let bucket = byConsumer.get(consumer);
      if (!bucket) {
        if (order.length - oldest >= maxKeys) {
          const gone = order[oldest] as (typeof order)[number];
          gone.byConsumer.delete(gone.consumer);
          oldest++;
          // The dropped entries' slots are reclaimed now and then, not on every drop.
          if (oldest >= 1024 && oldest * 2 >= order.length) {
            order.splice(0, oldest);
            oldest = 0;
          }
        }
        bucket = { tokens: limit, at: t };
        byConsumer.set(consumer, bucket);
        order.push({ byConsumer, consumer });
      } else {
        bucket.tokens = Math.min(limit, bucket.tokens + (t - bucket.at) * perMs);
        bucket.at = t;
      }
      const allowed = bucket.tokens >= 1;
      if (allowed) bucket.tokens -= 1;
      return {
        allowed,
        limit,
        remaining: Math.floor(bucket.tokens),
        resetSeconds: Math.ceil((limit - bucket.tokens) / perMs / 1000),
        retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / perMs / 1000)),
      };
    },
    size: () => order.length - oldest,
  };
}

type Bucket = { tokens: number; at: number };

/** The consumer's limit on a route: the highest `byRole` limit among its roles, else the route's. */
export function limitFor(policy: RoutePolicies["rateLimit"], roles: readonly Role[] | undefined): number {
  let limit: number | undefined;
  for (const role of roles ?? []) {
    const byRole = policy.byRole[role];
    if (byRole !== undefined && (limit === undefined || byRole > limit)) limit = byRole;
  }
  return limit ?? policy.perMinute;
}

// A route's limit and policy fields are the same on every answer: made once per limit (a handful of values).
const fieldsByLimit = new Map<number, { limit: string; policy: string }>();
function limitFields(limit: number) {
  let fields = fieldsByLimit.get(limit);
  if (!fields) {
    fields = { limit: String(limit), policy: `${limit};w=60` };
    if (fieldsByLimit.size < 1000) fieldsByLimit.set(limit, fields);
  }
  return fields;
}

/** The RateLimit-* fields (draft-ietf-httpapi-ratelimit-headers) for a decision; Retry-After on refusal. */
export function rateLimitHeaders(d: RateDecision): Record<string, string> {
  const fixed = limitFields(d.limit);
  const headers: Record<string, string> = {
    "ratelimit-limit": fixed.limit,
    "ratelimit-remaining": String(d.remaining),
    "ratelimit-reset": String(d.resetSeconds),
    "ratelimit-policy": fixed.policy,
  };
  if (!d.allowed) headers["retry-after"] = String(d.retryAfterSeconds);
  return headers;
}
