/*
 * The route table's types live in @fig/route-file, which converts the route file (fig.yaml, FIG_ROUTES_FILE)
 * into a RouteTable; main.ts loads it at start. Re-exported here so the gateway's rooms import one place.
 */
export {
  GATEWAY_PATHS,
  type ListMerge,
  type RouteDefinition,
  type RouteGate,
  type RoutePolicies,
  type RouteState,
  type RouteTable,
  type Upstream,
  type WriteMode,
} from "@fig/route-file";

/** Everything proxied lives under this prefix; anything else that is not a gateway path is a 404. */
export const API_PREFIX = "/api";

export const MONOLITH = "monolith";
