import { API_PREFIX, type RouteDefinition, type RouteTable } from "../routes.ts";

/**
 * The route for a request: the carved-out route with the longest matching prefix whose methods include
 * the method, else the default route for anything under /api, else undefined (the gateway answers 404).
 * Prefixes match on segment boundaries: `/api/codes` takes `/api/codes` and `/api/codes/…`, not `/api/codesx`.
 *
 * @example
 * const match = createRouteMatcher(table);
 * match("/api/codes/00103", "GET")?.id; // "reference-data"
 */
export function createRouteMatcher(table: RouteTable) {
  const entries = table.routes
    .flatMap((route) => route.prefixes.map((prefix) => ({ prefix, route })))
    .sort((a, b) => b.prefix.length - a.prefix.length);
  const takes = (route: RouteDefinition, method: string) =>
    route.methods === "*" || route.methods.includes(method);
  const under = (path: string, prefix: string) =>
    path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47); // "/"

  return function matchRoute(path: string, method: string): RouteDefinition | undefined {
    for (const { prefix, route } of entries) if (under(path, prefix) && takes(route, method)) return route;
    return under(path, API_PREFIX) ? table.defaultRoute : undefined;
  };
}
