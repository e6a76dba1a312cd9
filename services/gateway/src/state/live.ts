import type { RouteDefinition } from "../routes.ts";
import type { ChangeMeta, HistoryEntry, LiveRoute, RouteChange, WriteHold } from "./types.ts";

const isWriteHold = (v: unknown): v is WriteHold =>
  typeof (v as WriteHold | null)?.until === "string" && typeof (v as WriteHold).by === "string";

/** History kept per route (the KV value holds it, so state and history change in one atomic update). */
export const HISTORY_MAX = 200;

/** The live state a route starts with, from the route file. */
export function seedOf(route: RouteDefinition, now = new Date()): LiveRoute {
  const weights = Object.fromEntries(route.upstreams.map((u) => [u.name, u.weight]));
  const at = now.toISOString();
  return {
    id: route.id,
    weights,
    state: route.state,
    writeOwner: route.writeOwner,
    revision: 0,
    updatedAt: at,
    updatedBy: "route file",
    history: [
      {
        at,
        who: "route file",
        what: "seed",
        from: null,
        to: { weights, state: route.state, writeOwner: route.writeOwner },
        why: "seeded from the route file",
      },
    ],
  };
}

function fieldOf(change: RouteChange): { what: HistoryEntry["what"]; value: unknown } {
  switch (change.kind) {
    case "weights":
      return { what: "weights", value: change.weights };
    case "state":
      return { what: "state", value: change.state };
    case "write-owner":
      return { what: "write-owner", value: change.writeOwner };
    case "write-hold":
      return { what: "write-hold", value: change.hold };
    case "shadow":
      return { what: "shadow", value: change.percent };
  }
}

/** The route after `change`, with the change appended to its history. Pure. */
export function applyChange(
  route: LiveRoute,
  change: RouteChange,
  meta: ChangeMeta,
  now = new Date(),
): LiveRoute {
  const { what, value } = fieldOf(change);
  const from =
    what === "weights"
      ? route.weights
      : what === "state"
        ? route.state
        : what === "write-hold"
          ? (route.writeHold ?? null)
          : what === "shadow"
            ? (route.shadowPercent ?? null)
            : route.writeOwner;
  const at = now.toISOString();
  const entry: HistoryEntry = { at, who: meta.who, what, from, to: value, why: meta.why };
  const next: LiveRoute = {
    ...route,
    updatedAt: at,
    updatedBy: meta.who,
    history: [...route.history, entry],
  };
  if (next.history.length > HISTORY_MAX) next.history = next.history.slice(-HISTORY_MAX);
  if (change.kind === "weights") next.weights = { ...change.weights };
  if (change.kind === "state") next.state = change.state;
  if (change.kind === "write-owner") next.writeOwner = change.writeOwner;
  if (change.kind === "write-hold") next.writeHold = change.hold;
  if (change.kind === "shadow") next.shadowPercent = change.percent;
  return next;
}

/** A stored value back to a LiveRoute, or null when it is not one (a foreign or corrupt key is skipped). */
export function parseLive(value: unknown, revision: number): LiveRoute | null {
  if (typeof value !== "object" || value === null) return null;
  const v = value as Partial<LiveRoute>;
  if (typeof v.id !== "string" || typeof v.weights !== "object" || v.weights === null) return null;
  if (v.state !== "active" && v.state !== "inactive") return null;
  if (typeof v.writeOwner !== "string") return null;
  return {
    id: v.id,
    weights: v.weights as Record<string, number>,
    state: v.state,
    writeOwner: v.writeOwner,
    revision,
    updatedAt: typeof v.updatedAt === "string" ? v.updatedAt : "",
    updatedBy: typeof v.updatedBy === "string" ? v.updatedBy : "",
    history: Array.isArray(v.history) ? (v.history as HistoryEntry[]) : [],
    writeHold: isWriteHold(v.writeHold) ? v.writeHold : null,
    shadowPercent: typeof v.shadowPercent === "number" ? v.shadowPercent : null,
  };
}
