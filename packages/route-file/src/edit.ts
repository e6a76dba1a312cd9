import { Document, isMap, isNode, isScalar, isSeq, type Node, parseDocument, visit } from "yaml";
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
  const unit = indentUnit(doc, text);
  const routes = doc.get("routes", true);
  const last = isSeq(routes) && !routes.flow ? routes.items.at(-1) : undefined;
  if (isNode(last)) {
    const indent = " ".repeat(columnOf(text, last.range?.[0] ?? 0) - 2);
    // Routes are set apart by a blank line, as the hand-written ones are.
    return checked(insertAfter(text, last, `\n${block(compact([route]), indent, unit)}`));
  }
  const pair = isMap(doc.contents)
    ? doc.contents.items.find((p) => isScalar(p.key) && p.key.value === "routes")
    : undefined;
  const empty = (isScalar(routes) && routes.value === null) || (isSeq(routes) && routes.items.length === 0);
  if (empty && isNode(pair?.key) && isNode(routes)) {
    // `routes:` or `routes: []`: the value is dropped and the first route written under the key, so the rest
    // of the file (its indentation, comments, blank lines) stays as written.
    const [from, to] = routes.range ?? [0, 0];
    const without = to > from ? text.slice(0, from) + text.slice(to) : text;
    const lineStart = without.lastIndexOf("\n", pair.key.range?.[0] ?? 0) + 1;
    const newline = without.indexOf("\n", lineStart);
    const lineEnd = newline === -1 ? without.length : newline;
    const keyLine = without.slice(lineStart, lineEnd).trimEnd();
    const first = block(compact([route]), " ".repeat(unit), unit);
    return checked(`${without.slice(0, lineStart)}${keyLine}\n${first}${without.slice(lineEnd + 1)}`);
  }
  doc.set("routes", compact([...(isSeq(routes) ? routes.toJSON() : []), route]));
  return checked(doc.toString({ ...FORMAT, indent: unit }));
}

/** Adds an upstream (by name) to a route file's text, keeping the rest as it is; throws when the name exists. */
export function addUpstream(text: string, name: string, upstream: UpstreamDeclarationInput): string {
  const doc = parseDocument(text);
  if (doc.hasIn(["upstreams", name]))
    throw new RouteFileError([{ path: `upstreams.${name}`, reason: "already declared" }]);
  const upstreams = doc.get("upstreams", true);
  const last = isMap(upstreams) && !upstreams.flow ? upstreams.items.at(-1) : undefined;
  if (!last || !isNode(last.key) || !isNode(last.value)) {
    doc.setIn(["upstreams", name], compact(upstream));
    return checked(doc.toString(FORMAT));
  }
  const indent = " ".repeat(columnOf(text, last.key.range?.[0] ?? 0));
  return checked(insertAfter(text, last.value, block(compact({ [name]: upstream }), indent)));
}

const FORMAT = { lineWidth: 0 } as const;

function checked(text: string): string {
  parseRouteFile(text);
  return text;
}

/** The file's own indentation step: the column of the first nested key (2 when nothing is nested yet). */
function indentUnit(doc: Document.Parsed, text: string): number {
  if (!isMap(doc.contents)) return 2;
  for (const pair of doc.contents.items) {
    const inner = isMap(pair.value) && !pair.value.flow ? pair.value.items[0] : undefined;
    if (inner && isNode(inner.key)) return columnOf(text, inner.key.range?.[0] ?? 0) || 2;
  }
  return 2;
}

/** The new entry's YAML, each line indented to sit beside its siblings, nested by the file's own step. */
function block(node: Node, indent: string, unit = 2): string {
  const yaml = new Document(node).toString({ ...FORMAT, indent: unit });
  return yaml
    .trimEnd()
    .split("\n")
    .map((line) => indent + line)
    .join("\n")
    .concat("\n");
}

/** Inserts after the line where `node` ends: the text before and after is untouched. */
function insertAfter(text: string, node: Node, insert: string): string {
  let at = node.range?.[1] ?? text.length;
  if (text[at - 1] !== "\n") {
    const newline = text.indexOf("\n", at);
    at = newline === -1 ? text.length : newline + 1;
  }
  const before = text.slice(0, at);
  return `${before}${before.endsWith("\n") ? "" : "\n"}${insert}${text.slice(at)}`;
}

function columnOf(text: string, offset: number): number {
  return offset - (text.lastIndexOf("\n", offset - 1) + 1);
}

/** Small maps of scalars in flow style (`{ name: monolith, weight: 0 }`), as the rest of the file writes them. */
function compact(value: unknown): Node {
  const node = new Document(value).contents as Node;
  visit(node, {
    Map(_, map) {
      if (map.items.length <= 3 && map.items.every((p) => isScalar(p.value))) map.flow = true;
    },
  });
  return node;
}
