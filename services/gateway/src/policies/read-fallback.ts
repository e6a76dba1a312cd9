import type { UpstreamName } from "./types.ts";

/**
 * The read-only archive rule (routes that declare `readFallback`): a GET (or HEAD) answered 404 by the
 * upstream it was sent to is asked again of the route's other upstreams. Both directions: archived runs
 * live only on the monolith, runs created on the new service only there until the data sync catches up.
 *
 * @example
 * if (shouldFallback(request.method, response)) for (const next of fallbackOrder(upstreams, served)) ...
 */
export function shouldFallback(method: string, response: Response): boolean {
  const upper = method.toUpperCase();
  return (upper === "GET" || upper === "HEAD") && response.status === 404;
}

/**
 * The route's other upstreams in declared order, those whose breaker is open left out (an open breaker
 * would answer nothing, and a 404 from the first is a better answer than a 503).
 */
export function fallbackOrder(
  upstreams: readonly UpstreamName[],
  tried: Iterable<UpstreamName>,
  isOpen: (upstream: UpstreamName) => boolean = () => false,
): UpstreamName[] {
  const seen = new Set(tried);
  return upstreams.filter((name) => !seen.has(name) && !isOpen(name));
}
