import type { RouteState } from "../routes.ts";

/** One recorded change of a route: who, when, from, to, why (the seed is the first entry). */
export type HistoryEntry = {
  at: string;
  who: string;
  what: "seed" | "weights" | "state" | "write-owner" | "write-hold" | "shadow";
  from: unknown;
  to: unknown;
  why: string | null;
};

/** The live, changeable part of a route (weights, state, write owner) and its history, as stored in KV. */
export type LiveRoute = {
  id: string;
  weights: Record<string, number>;
  state: RouteState;
  writeOwner: string;
  /** KV revision of this value; 0 before it was ever stored. The admin API's ETag. */
  revision: number;
  updatedAt: string;
  updatedBy: string;
  history: HistoryEntry[];
  /**
   * While set and before `until`, the proxy holds the route's new writes (methods that go to the write owner)
   * instead of forwarding them; cleared, they go on to the then write owner; past `until`, they get 503.
   */
  writeHold?: WriteHold | null;
  /** Live share of GETs mirrored to the route's shadow candidate (a promotion's shadow step); null: the route file. */
  shadowPercent?: number | null;
};

/** A bounded hold of a route's writes, for moving write ownership without losing an accepted write. */
export type WriteHold = { until: string; by: string };

export type RouteChange =
  | { kind: "weights"; weights: Record<string, number> }
  | { kind: "state"; state: RouteState }
  | { kind: "write-owner"; writeOwner: string }
  | { kind: "write-hold"; hold: WriteHold | null }
  | { kind: "shadow"; percent: number | null };

export type ChangeMeta = { who: string; why: string | null; ifRevision?: number | undefined };

/** How fresh the state is: `staleSince` is set while the store cannot hear changes (NATS down). */
export type StateHealth = {
  source: "nats-kv" | "memory";
  /** False until the live state was read once (until then the seed from the route file is served). */
  loaded: boolean;
  staleSince: string | null;
  bucket?: string;
};

/**
 * Where the gateway's live route state lives. Reads are synchronous (the request path reads a local
 * copy); changes go to the shared store and come back to every replica.
 */
export interface RouteStateStore {
  get(id: string): LiveRoute | undefined;
  list(): LiveRoute[];
  /** Applies a change with optimistic concurrency; rejects with the errors below. */
  change(id: string, change: RouteChange, meta: ChangeMeta): Promise<LiveRoute>;
  health(): StateHealth;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class UnknownRouteError extends Error {}
/** `ifRevision` no longer matches (someone else changed the route first). */
export class RevisionMismatchError extends Error {
  constructor(readonly current: number) {
    super(`The route is at revision ${current}`);
  }
}
/** The shared store cannot be written now (NATS unreachable): the gateway keeps serving the last state. */
export class StateUnavailableError extends Error {}
