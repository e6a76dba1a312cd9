import type { RouteDefinition } from "../routes.ts";
import { applyChange, seedOf } from "./live.ts";
import {
  type ChangeMeta,
  type LiveRoute,
  RevisionMismatchError,
  type RouteChange,
  type RouteStateStore,
  UnknownRouteError,
} from "./types.ts";

/**
 * Route state held in this process only: for tests of the request path and for a gateway run without
 * NATS. Same contract as the KV store (revisions, history), no sharing between replicas.
 */
export function createMemoryRouteStore(routes: RouteDefinition[]): RouteStateStore {
  const live = new Map<string, LiveRoute>(routes.map((r) => [r.id, { ...seedOf(r), revision: 1 }]));
  return {
    get: (id) => live.get(id),
    list: () => [...live.values()],
    async change(id: string, change: RouteChange, meta: ChangeMeta) {
      const current = live.get(id);
      if (!current) throw new UnknownRouteError(`No route ${id}`);
      if (meta.ifRevision !== undefined && meta.ifRevision !== current.revision)
        throw new RevisionMismatchError(current.revision);
      const next = { ...applyChange(current, change, meta), revision: current.revision + 1 };
      live.set(id, next);
      return next;
    },
    health: () => ({ source: "memory", loaded: true, staleSince: null }),
    async start() {},
    async stop() {},
  };
}
