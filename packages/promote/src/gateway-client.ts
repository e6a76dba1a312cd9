import type { Weights } from "./schema.ts";

/** What the promotion reads of a route from `GET /_fig/routes`. */
export type GatewayRoute = {
  id: string;
  upstreams: { name: string; weight: number }[];
  state: string;
  revision: number;
  /** The route's load gate (routes.ts `gate`), if it declares one. */
  gate?: GateDeclaration | null;
};

/** What a route's journey needs of its gate: the script, and the roles and tenant of the token to mint. */
export type GateDeclaration = { script: string; roles: string[]; tenant: string };

/** The shadow report's counters for one route (`GET /_fig/shadow`). */
export type ShadowRouteCounters = {
  route: string;
  candidate: string;
  compared: number;
  matches: number;
  mismatches: number;
  noiseOnly: number;
  mismatchRate: number;
  candidateErrors: number;
  noise: { fields: { path: string; count: number }[] };
  samples: unknown[];
};

/** One upstream's counters of a route at the gateway (`GET /_fig/routes/{id}/counters`), since its process started. */
export type UpstreamCounters = {
  upstream: string;
  requests: number;
  serverErrors: number;
  transportErrors: number;
  duration: { buckets: { le: number; count: number }[]; count: number; sumSeconds: number };
};

/**
 * A route's counters at the gateway: every process's own (a new pid: restarted, counting from zero) and how
 * many of the N processes sharing its port answered.
 */
export type RouteCounters = {
  route: string;
  at: string;
  upstreams: UpstreamCounters[];
  perProcess: { process: number; pid: number; upstreams: UpstreamCounters[] }[];
  processes: { of: number; answered: number };
};

/** The gateway answered a change with 412: the route changed since its revision was read. */
export class RouteChangedError extends Error {}

export class GatewayError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export type GatewayClient = ReturnType<typeof createGatewayClient>;

/**
 * The gateway's admin API as the promotion uses it (an operator's token: role operator in the operator tenant), plus its /metrics page.
 *
 * @example
 * const gateway = createGatewayClient({ baseUrl: "http://127.0.0.1:8080", token });
 * await gateway.setWeights("reference-data", { monolith: 90, "reference-data": 10 }, "step 1 of 4");
 */
export function createGatewayClient({ baseUrl, token }: { baseUrl: string; token: string }) {
  const base = baseUrl.replace(/\/+$/, "");
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };

  async function call(method: string, path: string, body?: unknown, extra: Record<string, string> = {}) {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...headers, ...extra },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (res.status === 412) throw new RouteChangedError(`${method} ${path}: the route changed meanwhile`);
    if (!res.ok) {
      let detail = text;
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
      } catch {}
      throw new GatewayError(`${method} ${path}: ${res.status} ${detail}`, res.status);
    }
    return { json: text ? (JSON.parse(text) as unknown) : null, etag: res.headers.get("etag") };
  }

  async function route(id: string): Promise<GatewayRoute> {
    const { json } = await call("GET", "/_fig/routes");
    const found = (json as { routes: GatewayRoute[] }).routes.find((r) => r.id === id);
    if (!found) {
      const known = (json as { routes: GatewayRoute[] }).routes.map((r) => r.id).join(", ");
      throw new GatewayError(`the gateway has no route ${id}; it has ${known}`, 404);
    }
    return found;
  }

  /** Sets the weights; with `ifRevision`, only if nobody changed the route since. Returns the new revision. */
  async function setWeights(id: string, weights: Weights, reason: string, ifRevision?: number) {
    const { json } = await call(
      "PUT",
      `/_fig/routes/${encodeURIComponent(id)}/weights`,
      { weights, reason: reason.slice(0, 500) },
      ifRevision === undefined ? {} : { "if-match": `"${ifRevision}"` },
    );
    return (json as GatewayRoute).revision;
  }

  /** Mirrors `percent` % of the route's GETs to its shadow candidate (0 stops). */
  async function setShadow(id: string, percent: number, reason: string): Promise<number> {
    const { json } = await call("PUT", `/_fig/routes/${encodeURIComponent(id)}/shadow`, {
      percent,
      reason: reason.slice(0, 500),
    });
    return (json as { revision: number }).revision;
  }

  async function shadow(id: string): Promise<ShadowRouteCounters | null> {
    const { json } = await call("GET", "/_fig/shadow");
    return (json as { routes: ShadowRouteCounters[] }).routes.find((r) => r.route === id) ?? null;
  }

  /** Waits until no mirrored request is outstanding (their comparisons are in the report), up to a deadline. */
  async function drainShadow(deadlineMs = 10_000) {
    const deadline = Date.now() + deadlineMs;
    while (Date.now() < deadline) {
      const { json } = await call("GET", "/_fig/shadow");
      if ((json as { queue: { outstanding: number } }).queue.outstanding === 0) return;
      await Bun.sleep(50);
    }
  }

  /**
   * The route's counters summed over every gateway process (`GET /_fig/routes/{id}/counters`); null from a
   * gateway older than that endpoint (404 for a route `route()` found).
   */
  async function counters(id: string): Promise<RouteCounters | null> {
    try {
      const { json } = await call("GET", `/_fig/routes/${encodeURIComponent(id)}/counters`);
      return json as RouteCounters;
    } catch (error) {
      if (error instanceof GatewayError && error.status === 404) return null;
      throw error;
    }
  }

  /**
   * The /metrics page of whichever gateway process answers (on a connection of its own), and which one it
   * was (`Fig-Gateway-Process`, sent when N > 1 processes share the port; null otherwise).
   */
  async function metrics(): Promise<{ text: string; process: string | null }> {
    const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000), keepalive: false });
    if (!res.ok) throw new GatewayError(`GET /metrics: ${res.status}`, res.status);
    return { text: await res.text(), process: res.headers.get("fig-gateway-process") };
  }

  return { baseUrl: base, route, setWeights, setShadow, shadow, drainShadow, counters, metrics };
}
