/**
 * fig.yaml edits for a new service: its upstream, and a route sending /api/<resource> to it at 0 %. The route
 * file's own addUpstream/addRoute (packages/route-file) make and validate the change; the scaffold then writes
 * the same change as added lines only, when they read back identical, so the author's layout and comments stay.
 */
import {
  addRoute,
  addUpstream,
  parseRouteFile,
  RouteFileError,
  type RouteFileRouteInput,
} from "../../packages/route-file/src/index.ts";
import type { ServiceNames } from "./names.ts";
import { blockOf } from "./yaml-text.ts";

export class RouteEditRefusal extends Error {}

/**
 * The route the scaffold adds: the legacy side keeps 100 % and the writes until a promotion moves them. With a
 * database, its table is the route's data (`fig.data`): migrate-data backfills, verifies and flips it, and the
 * service follows the write owner's changes to it.
 */
export function serviceRoute(names: ServiceNames, legacy: string, db: boolean): RouteFileRouteInput {
  return {
    name: names.name,
    matches: [{ path: { type: "PathPrefix", value: `/api/${names.resource}` } }],
    backendRefs: [
      { name: legacy, weight: 100 },
      { name: names.name, weight: 0 },
    ],
    filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: names.name }, percent: 0 } }],
    fig: {
      writes: "owner",
      writeOwner: legacy,
      shadow: { ignorePaths: ["id", "createdAt", "updatedAt"] },
      gate: { script: `loadtests/${names.name}.js`, roles: ["editor", "gate"], tenant: "fig" },
      ...(db ? { data: { tables: [{ name: names.table, key: "id", updatedAt: "updated_at" }] } } : {}),
    },
  };
}

/** The same upstream and route as lines in the file's own style. */
function routeLines(names: ServiceNames, legacy: string, port: number, db: boolean) {
  const { name, env, resource } = names;
  const upstream = [
    `  ${name}:`,
    `    url: { env: ${env}_URL, default: "http://127.0.0.1:${port}" }`,
    `    openapi: openapi/${name}.json`,
    ...(db ? [`    database: { env: ${env}_DATABASE_URL }`] : []),
  ];
  const route = [
    `  - name: ${name}`,
    "    matches:",
    `      - path: { type: PathPrefix, value: /api/${resource} }`,
    "    backendRefs:",
    `      - { name: ${legacy}, weight: 100 }`,
    `      - { name: ${name}, weight: 0 }`,
    "    filters:",
    "      - type: RequestMirror",
    `        requestMirror: { backendRef: { name: ${name} }, percent: 0 }`,
    "    fig:",
    "      writes: owner",
    `      writeOwner: ${legacy}`,
    "      shadow: { ignorePaths: [id, createdAt, updatedAt] }",
    `      # Made by \`bun run new service ${name}\`: the journey creates and renames (editor); gate pins the candidate.`,
    `      gate: { script: loadtests/${name}.js, roles: [editor, gate], tenant: fig }`,
    ...(db
      ? [
          `      # The service's table moves with the route's writes: \`bun run migrate-data <verb> ${name}\`.`,
          "      data:",
          "        tables:",
          `          - { name: ${names.table}, key: id, updatedAt: updated_at }`,
        ]
      : []),
  ];
  return { upstream, route };
}

/** Adds lines at the end of top-level `key:`'s block, or undefined when the file has no such block. */
function appendToBlock(text: string, key: string, added: string[], gap: boolean): string | undefined {
  const lines = text.split("\n");
  const block = blockOf(lines, new RegExp(`^${key}:\\s*(#.*)?$`), 0);
  if (!block) return undefined;
  lines.splice(block.end, 0, ...(gap ? ["", ...added] : added));
  return lines.join("\n");
}

function sameData(a: string, b: string): boolean {
  try {
    return JSON.stringify(parseRouteFile(a, "fig.yaml")) === JSON.stringify(parseRouteFile(b, "fig.yaml"));
  } catch {
    return false;
  }
}

/**
 * fig.yaml's text with the service's upstream and 0 % route. Refuses (RouteEditRefusal) a name the file has
 * already, or a prefix another route claims.
 */
export function addServiceRoute(text: string, names: ServiceNames, port: number, db: boolean): string {
  const file = parseRouteFile(text, "fig.yaml");
  const legacy = file.monolith.backendRef;
  if (file.upstreams[names.name])
    throw new RouteEditRefusal(`fig.yaml already declares an upstream "${names.name}"; choose another name`);
  if (file.routes.some((r) => r.name === names.name))
    throw new RouteEditRefusal(`fig.yaml already has a route "${names.name}"; choose another name`);
  let edited: string;
  try {
    edited = addRoute(
      addUpstream(text, names.name, {
        url: { env: `${names.env}_URL`, default: `http://127.0.0.1:${port}` },
        openapi: `openapi/${names.name}.json`,
        ...(db ? { database: { env: `${names.env}_DATABASE_URL` } } : {}),
      }),
      serviceRoute(names, legacy, db),
    );
  } catch (error) {
    if (!(error instanceof RouteFileError)) throw error;
    const claimed = error.issues.find((i) => i.path.includes("matches"));
    if (claimed)
      throw new RouteEditRefusal(
        `/api/${names.resource} is routed already (fig.yaml ${claimed.path}: ${claimed.reason}); pass another --resource`,
      );
    throw error;
  }
  const lines = routeLines(names, legacy, port, db);
  const withUpstream = appendToBlock(text, "upstreams", lines.upstream, false);
  const appended = withUpstream && appendToBlock(withUpstream, "routes", lines.route, true);
  return appended && sameData(appended, edited) ? appended : edited;
}
