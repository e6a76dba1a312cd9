import { type Document, isMap, isScalar, isSeq, parseDocument, visit } from "yaml";
import { RouteFileError } from "./errors.ts";
import { parseRouteFile } from "./load.ts";
import type { RouteFileRouteInput, UpstreamDeclarationInput } from "./schema.ts";

/**
 * Appends a route to a route file's text and returns the new text: comments, order and layout of the rest
 * are kept (yaml's Document API). The result is validated; a mistake (a duplicate name, an unknown upstream,
 * a prefix another route claims) throws RouteFileError and the text is not changed.
 *
 * @example
 * text = addUpstream(text, "billing", { url: { env: "BILLING_URL", default: "http://127.0.0.1:8086" } });
 * text = addRoute(text, {
 *   name: "billing",
 *   matches: [{ path: { type: "PathPrefix", value: "/api/invoices" } }],
 *   backendRefs: [{ name: "monolith", weight: 100 }, { name: "billing", weight: 0 }],
 * });
 */
export function addRoute(text: string, route: RouteFileRouteInput): string {
  const doc = parseDocument(text);
  const routes = doc.get("routes", true);
  const node = compact(doc, doc.createNode(route));
  if (isSeq(routes)) routes.items.push(node);
  else doc.set("routes", doc.createNode([route]));
  return checked(doc);
}

/** Adds an upstream (by name) to a route file's text, keeping the rest as it is; throws when the name exists. */
export function addUpstream(text: string, name: string, upstream: UpstreamDeclarationInput): string {
  const doc = parseDocument(text);
  if (doc.hasIn(["upstreams", name]))
    throw new RouteFileError([{ path: `upstreams.${name}`, reason: "already declared" }]);
  const upstreams = doc.get("upstreams", true);
  if (isMap(upstreams)) upstreams.set(name, compact(doc, doc.createNode(upstream)));
  else doc.set("upstreams", doc.createNode({ [name]: upstream }));
  return checked(doc);
}

function checked(doc: Document): string {
  const text = doc.toString();
  parseRouteFile(text);
  return text;
}

/** Small maps of scalars in flow style (`{ name: monolith, weight: 0 }`), as the rest of the file writes them. */
function compact<T>(_doc: Document, node: T): T {
  visit(node as never, {
    Map(_, map) {
      if (map.items.length <= 3 && map.items.every((p) => isScalar(p.value))) map.flow = true;
    },
  });
  return node;
}
