import { stringify } from "yaml";

/** A route as the gateway's admin API shows it (GET /_fig/routes): live weights, state and write owner. */
export type LiveRouteView = {
  id: string;
  prefixes: string[];
  methods: string[] | "*";
  upstreams: { name: string; url: string; weight: number }[];
  state: "active" | "inactive";
  writeOwner: string;
  writes: string;
  policies: {
    timeoutMs?: number;
    readFallback?: boolean;
    shadow?: { percent: number; candidate: string; ignorePaths?: string[] } | false;
  };
};

export type HttpRouteOptions = {
  /** The Gateway the routes attach to (`parentRefs`). */
  gateway?: string;
  namespace?: string;
};

/** Fig's own fields kept on the exported HTTPRoute: the gateway API has no notion of them. */
export const ANNOTATION_PREFIX = "fig.dev/";

/**
 * One Gateway API v1 HTTPRoute per route of the live state, for a team moving the data plane to Envoy Gateway
 * or Istio: `matches[].path` PathPrefix (× `method` when the route takes only some), `backendRefs` with the
 * live weights (a Kubernetes Service named as the upstream, on the port of its URL), a RequestMirror filter
 * with the shadow percent, and the route's timeout. Write placement, read fallback and state are Fig's own
 * and go into `fig.dev/*` annotations; auth, rate limits, retries, breakers, list merge and gates are left out
 * (each data plane has its own policy resources for them).
 *
 * @example
 * const docs = toHttpRoutes(await (await fetch(`${base}/_fig/routes`, { headers })).json().routes);
 */
export function toHttpRoutes(routes: readonly LiveRouteView[], options: HttpRouteOptions = {}): object[] {
  return routes.map((route) => toHttpRoute(route, options));
}

/** The routes as a multi-document YAML stream (`---` between them). */
export function httpRoutesYaml(routes: readonly LiveRouteView[], options: HttpRouteOptions = {}): string {
  return toHttpRoutes(routes, options)
    .map((doc) => stringify(doc, { lineWidth: 0 }))
    .join("---\n");
}

function toHttpRoute(route: LiveRouteView, { gateway = "fig", namespace }: HttpRouteOptions): object {
  const ref = (name: string) => {
    const upstream = route.upstreams.find((u) => u.name === name);
    return { name, port: upstream ? portOf(upstream.url) : 80 };
  };
  // An inactive route sends everything to its first upstream (the legacy side), as the gateway does.
  const weights =
    route.state === "inactive"
      ? route.upstreams.map((u, i) => ({ ...u, weight: i === 0 ? 100 : 0 }))
      : route.upstreams;
  const matches = route.prefixes.flatMap((value) =>
    route.methods === "*"
      ? [{ path: { type: "PathPrefix", value } }]
      : route.methods.map((method) => ({ path: { type: "PathPrefix", value }, method })),
  );
  const shadow = route.policies.shadow;
  const rule: Record<string, unknown> = {
    matches,
    backendRefs: weights.map((u) => ({ ...ref(u.name), weight: u.weight })),
  };
  if (shadow && route.state === "active")
    rule.filters = [
      {
        type: "RequestMirror",
        requestMirror: { backendRef: ref(shadow.candidate), percent: shadow.percent },
      },
    ];
  if (route.policies.timeoutMs) rule.timeouts = { request: `${route.policies.timeoutMs}ms` };
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: {
      name: route.id,
      ...(namespace ? { namespace } : {}),
      annotations: {
        [`${ANNOTATION_PREFIX}state`]: route.state,
        [`${ANNOTATION_PREFIX}writes`]: route.writes,
        [`${ANNOTATION_PREFIX}write-owner`]: route.writeOwner,
        [`${ANNOTATION_PREFIX}read-fallback`]: String(route.policies.readFallback ?? false),
      },
    },
    spec: { parentRefs: [{ name: gateway }], rules: [rule] },
  };
}

function portOf(url: string): number {
  const parsed = new URL(url);
  if (parsed.port) return Number(parsed.port);
  return parsed.protocol === "https:" ? 443 : 80;
}
