import type { RateLimiter } from "./policies/rate-limit.ts";

/** The response header naming the gateway process that answered, when N > 1 share the port (0 … N-1). */
export const PROCESS_HEADER = "fig-gateway-process";

/**
 * This process's share of every rate limit when `processes` share the port: ⌊limit ÷ N⌋ (at least 1), in
 * its own token bucket, so the N buckets of a consumer together never admit more than the limit (when
 * limit ≥ N). The kernel spreads connections, not requests: a consumer on one kept-alive connection meets
 * one process, and so gets 1/N of its limit; RateLimit-Limit says the share that process enforces.
 *
 * @example
 * const limiter = rateLimitShare(createRateLimiter(), 2); // a 100/minute route: 50/minute in each process
 */
export function rateLimitShare(limiter: RateLimiter, processes: number): RateLimiter {
  if (processes <= 1) return limiter;
  return {
    take: (routeId, consumer, limit) =>
      limiter.take(routeId, consumer, Math.max(1, Math.floor(limit / processes))),
    size: () => limiter.size(),
  };
}

type Fetch<S> = (request: Request, server?: S) => Response | Promise<Response>;

/**
 * Every answer names the process that gave it (`Fig-Gateway-Process: <index>`): which of the N processes
 * answered is otherwise invisible behind the shared port (an operator reading /health, the tests).
 * The proxy's responses have mutable headers (proxy/headers.ts); an immutable one is copied.
 */
export function withProcessHeader<S>(fetch: Fetch<S>, index: number): Fetch<S> {
  const value = String(index);
  const named = (response: Response) => {
    try {
      response.headers.set(PROCESS_HEADER, value);
      return response;
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      const copy = new Response(response.body, response);
      copy.headers.set(PROCESS_HEADER, value);
      return copy;
    }
  };
  return async (request, server) => named(await fetch(request, server));
}
