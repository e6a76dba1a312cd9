import type { RouteTable } from "../routes.ts";
import type { OpenApiDocument } from "./merge.ts";

type Json = Record<string, unknown>;

/**
 * The merged lists' operations as the gateway answers them (proxy/list-merge.ts): asked of every upstream of
 * the route, and a `Fig-Partial` header on the 200 when one of them did not answer.
 */
export function withListMergeNotes(doc: OpenApiDocument, table: RouteTable): OpenApiDocument {
  const paths: Json = { ...doc.paths };
  for (const route of table.routes) {
    for (const spec of route.listMerge ?? []) {
      const item = paths[spec.path] as Json | undefined;
      const op = item?.get as (Json & { description?: string; responses?: Record<string, Json> }) | undefined;
      const ok = op?.responses?.["200"];
      if (!item || !op || !ok) continue;
      const upstreams = route.upstreams.map((u) => u.name).join(" and ");
      const legacy = route.upstreams[0]?.name;
      const archive = spec.archivedField
        ? ` Items of ${legacy} carry \`${spec.archivedField}: true\` once the route sends it no traffic (its read-only archive).`
        : "";
      paths[spec.path] = {
        ...item,
        get: {
          ...op,
          description:
            `${op.description ?? ""} Through the gateway: the lists of ${upstreams} together, whatever the weights, merged newest first; \`nextCursor\` carries each side's place.${archive}`.trim(),
          responses: {
            ...op.responses,
            "200": {
              ...ok,
              headers: {
                ...(ok.headers as Json | undefined),
                "Fig-Partial": {
                  description:
                    "Set when an upstream did not answer (down, 5xx, 404, timeout, open breaker): the page holds what the others have",
                  schema: { type: "string", example: "monolith unavailable" },
                },
              },
            },
          },
        },
      };
    }
  }
  return { ...doc, paths };
}
