import { readFileSync } from "node:fs";
import { type EventType, ensureChangeEvent } from "@fig/events";
import { parseRouteFile, type RouteFile } from "@fig/route-file";
import type { DeclaredTable } from "./declared-table.ts";

/**
 * A route whose data moves with its write ownership, as the route file declares it (`fig.data`): its tables,
 * the change event each side publishes, the two sides (backendRefs; the first is the legacy side, the write
 * owner until a flip) and the consumer that follows each side.
 */
export type DataRoute = {
  id: string;
  event: EventType;
  tables: DeclaredTable[];
  sides: [string, string];
  /** The write owner the gateway seeds the route with (`fig.writeOwner`, default the first side); KV has the live one. */
  seedOwner: string;
  /** Upstream → the durable consumer (run by the other side) that applies that upstream's changes. */
  consumers: Record<string, string>;
};

/** Every route of the file that declares `fig.data`, by name. */
export function dataRoutesOf(file: RouteFile): Record<string, DataRoute> {
  const out: Record<string, DataRoute> = {};
  for (const route of file.routes) {
    const data = route.fig?.data;
    if (!data) continue;
    const sides = route.backendRefs.map((b) => b.name);
    if (sides.length !== 2)
      throw new Error(
        `route ${route.name}: data sync needs exactly two backendRefs (the legacy side and the new one), it has ${sides.length}`,
      );
    const [legacy, candidate] = sides as [string, string];
    for (const upstream of Object.keys(data.consumers))
      if (!sides.includes(upstream))
        throw new Error(
          `route ${route.name}: fig.data.consumers names ${upstream}, not one of its backendRefs`,
        );
    // A program that knows the system only through this file (the CLI) must still record and read its event.
    ensureChangeEvent(data.event, { owner: candidate, alsoPublishedBy: [legacy] });
    out[route.name] = {
      id: route.name,
      event: data.event as EventType,
      tables: data.tables,
      sides: [legacy, candidate],
      seedOwner: route.fig?.writeOwner ?? legacy,
      consumers: {
        [legacy]: data.consumers[legacy] ?? `${candidate}-${route.name}-sync`,
        [candidate]: data.consumers[candidate] ?? `${legacy}-${route.name}-sync`,
      },
    };
  }
  return out;
}

/** The route's data declaration, or an error listing the routes that have one. */
export function dataRouteOf(file: RouteFile, id: string): DataRoute {
  const routes = dataRoutesOf(file);
  const route = routes[id];
  if (!route) {
    const known = Object.keys(routes);
    throw new Error(
      `route ${id} declares no data (fig.data in the route file); ${known.length ? `routes with data: ${known.join(", ")}` : "no route declares data"}`,
    );
  }
  return route;
}

/** The other side of a route: the candidate when `owner` owns the writes. */
export function otherSide(route: DataRoute, owner: string): string {
  const other = route.sides.find((name) => name !== owner);
  if (!other || !route.sides.includes(owner))
    throw new Error(`route ${route.id}: ${owner} is not one of its sides (${route.sides.join(", ")})`);
  return other;
}

/**
 * A route's data declaration read straight from the route file, environment untouched (a service's live sync
 * needs only the tables, the event and the consumers).
 *
 * @example
 * const route = readDataRoute(config.FIG_ROUTES_FILE, config.SYNC_ROUTE);
 */
export function readDataRoute(file: string, id: string): DataRoute {
  return dataRouteOf(parseRouteFile(readFileSync(file, "utf8"), file), id);
}
