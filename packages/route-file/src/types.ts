import type { Role } from "@fig/auth";

/*
 * The gateway's route table: what a route file converts into (load.ts) and what the gateway serves. Weights,
 * state and write owner are only the seed of the live state in NATS KV; the rest is read from the file at start.
 */

/** An upstream a route can send to; `weight` is the seed of the live state (integer percent). */
export type Upstream = { name: string; url: string; weight: number };

export type RouteState = "active" | "inactive";

/**
 * How a route's writes are placed. `owner`: non-safe methods go to the write owner whatever the weights.
 * `owner-per-request`: a write goes where the weights send it and the resource lives there (a validation
 * run lives where its POST went; reads find it by read fallback). `stateless`: no data, weights decide.
 */
export type WriteMode = "owner" | "owner-per-request" | "stateless";

export type RoutePolicies = {
  /** Gateway-side authentication: a valid token, and these roles for reads / writes. Upstreams check again. */
  auth: { read: Role; write: Role } | false;
  /** Token bucket per consumer: capacity, refilled over one minute; `byRole` overrides (the highest held wins). */
  rateLimit: { perMinute: number; byRole: Partial<Record<Role, number>> };
  /** Route deadline for the upstream's response headers. */
  timeoutMs: number;
  /** Retries of idempotent requests on connection errors and 502/503/504, inside the retry budget. */
  retries: number;
  /** A circuit breaker per upstream; while a candidate's is open its share goes to the monolith. */
  breaker: boolean;
  /** A GET answered 404 is asked of the route's other upstream(s). */
  readFallback: boolean;
  /** Mirror `percent` % of GETs to `candidate` and compare; `ignorePaths` are JSON field paths left out. */
  shadow: { percent: number; candidate: string; ignorePaths: string[] } | false;
};

/**
 * A list operation answered from every upstream of the route: the same GET is asked of each (whatever its
 * weight: an upstream at 0 % may still hold data, the monolith's archive after a move or a candidate's runs
 * after a rollback) and the pages are merged newest first, with one cursor carrying each upstream's place.
 * Each upstream must order its list the same way: `sortKey` descending, then `idKey` descending.
 */
export type ListMerge = {
  /** The list's path, exactly (GET only; `/api/validations/{id}` and the like are not lists). */
  path: string;
  /** Dotted path in an item of the value it is sorted by: an ISO 8601 time or a number (`timings.queuedAt`). */
  sortKey: string;
  /** Dotted path of the item's unique id, the tie-break (`validationId`). */
  idKey: string;
  /** The page's field holding the items (`items`); the merged page has it and `nextCursor` only. */
  itemsField: string;
  /** Page size when the client sends no `limit` (the upstreams' own default). */
  defaultLimit: number;
  /**
   * The items of the route's first upstream (the legacy side) get this field set to true while it takes none
   * of the route's traffic (live weight 0, state active): its copy is then the read-only archive.
   */
  archivedField?: string;
};

export type RouteDefinition = {
  /** Slug: the admin API's `{id}` and the `route` label of metrics. */
  id: string;
  /** Path prefixes, matched on segment boundaries (`/api/codes` matches `/api/codes/1`, not `/api/codesx`). */
  prefixes: string[];
  /** Methods the route takes; others fall through to the default route. `*` is every method. */
  methods: string[] | "*";
  /** Declared order matters for stickiness: buckets fill upstreams in this order. The first is the fallback. */
  upstreams: Upstream[];
  state: RouteState;
  writeOwner: string;
  writes: WriteMode;
  policies: RoutePolicies;
  /** Lists merged from every upstream (see ListMerge). */
  listMerge?: ListMerge[];
  /** What `bun run promote` runs at every step: the journey's script and the token it needs. */
  gate?: RouteGate;
};

/**
 * A route's load gate as its journey needs it. `bun run promote` mints the gate token with exactly these roles
 * in this tenant (`--gate-token` and `--gate` override); a token short of a role the journey needs would have
 * every such request refused, and the gate would measure the auth check instead of the candidate.
 */
export type RouteGate = {
  /** The k6 script (repo-relative). */
  script: string;
  /** The token's roles: `gate` to pin the candidate, plus what the journey's requests need (reads: viewer). */
  roles: Role[];
  /** The tenant whose data the journey reads and writes. */
  tenant: string;
};

export type RouteTable = {
  /** Everything under /api that no carved-out route matches: the monolith (the strangler's default route). */
  defaultRoute: RouteDefinition;
  routes: RouteDefinition[];
};

/**
 * Roots outside /api a route may claim: RFC 8615 well-known URIs and the OAuth endpoints, which clients expect
 * at the root of the one URL (identity's key set, discovery document and token endpoint). The gateway proxies them.
 */
export const ROOT_PREFIXES = ["/.well-known", "/oauth"] as const;

/** The gateway's own paths: never proxied, so no route may claim them. */
export const GATEWAY_PATHS = ["/_fig", "/docs", "/openapi.json", "/health", "/ready", "/metrics"] as const;
