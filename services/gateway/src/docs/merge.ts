type Json = Record<string, unknown>;
export type OpenApiDocument = Json & { paths?: Json; components?: Record<string, Json> };

/** One upstream's document and the prefix its components take when a name collides with a different one. */
export type UpstreamDocument = { name: string; document: OpenApiDocument };

const deepEqual = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const pascal = (name: string) => name.replace(/(^|[-_])(\w)/g, (_, __, ch: string) => ch.toUpperCase());

/** Rewrites `#/components/<section>/<from>` refs to `<to>` everywhere in `value`. */
function renameRefs(value: unknown, section: string, from: string, to: string): unknown {
  if (Array.isArray(value)) return value.map((v) => renameRefs(v, section, from, to));
  if (value === null || typeof value !== "object") return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      k === "$ref" && v === `#/components/${section}/${from}`
        ? `#/components/${section}/${to}`
        : renameRefs(v, section, from, to);
  }
  return out;
}

/**
 * One OpenAPI 3.1 document of everything the gateway exposes: the gateway's own operations (its
 * /health, /ready, /_fig/*) plus every /api operation of the upstream services, as clients reach them
 * through the gateway. Components are merged by name: identical ones once; a same-named but different
 * one is renamed `<Service><Name>` (refs rewritten) so neither service's contract is bent. Fails on a path
 * or operationId claimed twice (two services answering the same operation is a routing bug).
 *
 * @example
 * const doc = mergeOpenApiDocuments(gatewayDoc, [{ name: "reference-data", document: refDoc }]);
 */
export function mergeOpenApiDocuments(base: OpenApiDocument, upstreams: UpstreamDocument[]): OpenApiDocument {
  const paths: Json = { ...(base.paths ?? {}) };
  const components: Record<string, Json> = {};
  for (const [section, entries] of Object.entries(base.components ?? {}))
    components[section] = { ...entries };
  const operationIds = new Map<string, string>();
  const claimIds = (owner: string, item: Json, path: string) => {
    for (const op of Object.values(item)) {
      const id = (op as { operationId?: string } | null)?.operationId;
      if (!id) continue;
      const prior = operationIds.get(id);
      if (prior) throw new Error(`operationId ${id} is declared by ${prior} and ${owner} (${path})`);
      operationIds.set(id, owner);
    }
  };
  for (const [path, item] of Object.entries(paths)) claimIds("gateway", item as Json, path);

  for (const { name, document } of upstreams) {
    let doc: unknown = document;
    const sections = (document.components ?? {}) as Record<string, Json>;
    // Rename first (collisions with a different component), then copy.
    for (const [section, entries] of Object.entries(sections)) {
      for (const [key, value] of Object.entries(entries)) {
        const existing = components[section]?.[key];
        if (existing !== undefined && !deepEqual(existing, value))
          doc = renameRefs(doc, section, key, `${pascal(name)}${key}`);
      }
    }
    const renamed = doc as OpenApiDocument;
    for (const [section, entries] of Object.entries(sections)) {
      components[section] ??= {};
      const target = components[section] as Json;
      for (const [key, value] of Object.entries(entries)) {
        const existing = target[key];
        const fixed = renamed.components?.[section]?.[key];
        if (existing === undefined) target[key] = fixed;
        else if (!deepEqual(existing, value)) target[`${pascal(name)}${key}`] = fixed;
      }
    }
    for (const [path, item] of Object.entries(renamed.paths ?? {})) {
      if (!path.startsWith("/api")) continue; // probes, docs and metrics of a service are not reachable through the gateway
      if (paths[path] !== undefined)
        throw new Error(`path ${path} is declared by two documents (${name} and another)`);
      claimIds(name, item as Json, path);
      paths[path] = item;
    }
  }
  return { ...base, paths, components };
}

const PROBLEM = { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } };
const GATEWAY_RESPONSES: Record<string, Json> = {
  "429": {
    description: "Too many requests (rate limit per user and route; see Retry-After)",
    content: PROBLEM,
  },
  "502": { description: "The upstream failed (connection error)", content: PROBLEM },
  "504": { description: "The upstream did not answer within the route's timeout", content: PROBLEM },
};
const METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options", "trace"]);

/** Adds the answers the gateway itself may give (429, 502, 504) to every /api operation that lacks them. */
export function withGatewayResponses(doc: OpenApiDocument): OpenApiDocument {
  const paths: Json = {};
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith("/api")) {
      paths[path] = item;
      continue;
    }
    const ops: Json = {};
    for (const [method, op] of Object.entries(item as Json)) {
      if (!METHODS.has(method)) {
        ops[method] = op;
        continue;
      }
      const operation = op as Json & { responses?: Json };
      ops[method] = { ...operation, responses: { ...GATEWAY_RESPONSES, ...operation.responses } };
    }
    paths[path] = ops;
  }
  return { ...doc, paths };
}
