import { REFERENCE_SPECS, type ResourceSpec } from "@fig/reference";
import type { CliConfig } from "./config.ts";

/** What moves with a route's write ownership: its tables, and where each side keeps them. */
export type DataRoute = {
  id: string;
  specs: readonly ResourceSpec[];
  /** Upstream name → its database URL from the config. */
  databases: (config: CliConfig) => Record<string, string | undefined>;
  /** Upstream name → the durable consumer that follows it (running in the other side). */
  followers: Record<string, string>;
  /** Upstream name → the config variable naming its database (for messages). */
  variables: Record<string, string>;
};

export const DATA_ROUTES: Record<string, DataRoute> = {
  "reference-data": {
    id: "reference-data",
    specs: REFERENCE_SPECS,
    databases: (c) => ({
      monolith: c.MONOLITH_DATABASE_URL,
      "reference-data": c.REFERENCE_DATA_DATABASE_URL,
    }),
    // reference-data follows the monolith before the flip; the monolith follows reference-data after it.
    followers: { monolith: "reference-data-reference-sync", "reference-data": "monolith-reference-sync" },
    variables: { monolith: "MONOLITH_DATABASE_URL", "reference-data": "REFERENCE_DATA_DATABASE_URL" },
  },
};

export function dataRoute(id: string): DataRoute {
  const route = DATA_ROUTES[id];
  if (!route)
    throw new Error(
      `No data route ${id}: migrate-data knows ${Object.keys(DATA_ROUTES).join(", ")} (validation runs are not synced)`,
    );
  return route;
}

/** The other side of a two-upstream route. */
export function otherSide(route: DataRoute, owner: string): string {
  const other = Object.keys(route.followers).find((name) => name !== owner);
  if (!other) throw new Error(`Route ${route.id} has no upstream besides ${owner}`);
  return other;
}
