import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ResolvedUpstream } from "@fig/route-file";
import { API_PREFIX, type RouteTable } from "../routes.ts";
import type { OpenApiDocument, UpstreamDocument } from "./merge.ts";

/** Where the route file says each upstream's OpenAPI document is, and the directory its repo paths start from. */
export type UpstreamSpecs = {
  upstreams: Record<string, ResolvedUpstream>;
  table: RouteTable;
  baseDir: string;
};

/**
 * The upstreams' documents for the merged /openapi.json, as the route file lists them (`openapi:`): a repo
 * path is read from disk, a `/path` is fetched from the upstream itself. The default route's upstream (the
 * monolith) comes last and keeps only the paths no other document declares: a carved-out route's contract is
 * its new service's, and the monolith fills in everything not carved out. An upstream whose document cannot
 * be read is left out and reported through `onError`: a missing document must not stop the gateway.
 *
 * @example
 * const docs = await loadUpstreamDocuments({ upstreams, table, baseDir: dirname(file) }, { fetch });
 */
export async function loadUpstreamDocuments(
  specs: UpstreamSpecs,
  {
    fetch = globalThis.fetch,
    onError = () => {},
  }: { fetch?: typeof globalThis.fetch; onError?: (name: string, error: unknown) => void } = {},
): Promise<UpstreamDocument[]> {
  const read = async (u: ResolvedUpstream & { openapi: string }): Promise<OpenApiDocument> => {
    if (!u.openapi.startsWith("/")) return readSpecFile(specs.baseDir, u.openapi);
    const response = await fetch(new URL(u.openapi, u.url), { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`GET ${u.openapi} answered ${response.status}`);
    return (await response.json()) as OpenApiDocument;
  };
  const documents: UpstreamDocument[] = [];
  for (const upstream of ordered(specs)) {
    try {
      documents.push({ name: upstream.name, document: await read(upstream) });
    } catch (error) {
      onError(upstream.name, error);
    }
  }
  return fillIn(documents, specs);
}

/** As loadUpstreamDocuments, reading only the repo files (no network): for `bun run openapi`. */
export function readUpstreamDocuments(specs: UpstreamSpecs): UpstreamDocument[] {
  const documents = ordered(specs)
    .filter((u) => !u.openapi.startsWith("/"))
    .map((u) => ({ name: u.name, document: readSpecFile(specs.baseDir, u.openapi) }));
  return fillIn(documents, specs);
}

function readSpecFile(baseDir: string, path: string): OpenApiDocument {
  return JSON.parse(readFileSync(join(baseDir, path), "utf8")) as OpenApiDocument;
}

/** Upstreams with a document, in the file's order, the monolith last. */
function ordered({ upstreams, table }: UpstreamSpecs) {
  const monolith = table.defaultRoute.upstreams[0]?.name;
  const withSpec = Object.values(upstreams).filter(
    (u): u is ResolvedUpstream & { openapi: string } => u.openapi !== undefined,
  );
  return [...withSpec.filter((u) => u.name !== monolith), ...withSpec.filter((u) => u.name === monolith)];
}

/** The monolith's document reduced to the paths no other upstream declares; left out when none remain. */
function fillIn(documents: UpstreamDocument[], { table }: UpstreamSpecs): UpstreamDocument[] {
  const monolith = table.defaultRoute.upstreams[0]?.name;
  const declared = new Set(
    documents.filter((d) => d.name !== monolith).flatMap((d) => Object.keys(d.document.paths ?? {})),
  );
  return documents.flatMap((d) => {
    if (d.name !== monolith) return [d];
    const paths = Object.fromEntries(
      Object.entries(d.document.paths ?? {}).filter(
        ([path]) => path.startsWith(API_PREFIX) && !declared.has(path),
      ),
    );
    return Object.keys(paths).length === 0 ? [] : [{ name: d.name, document: { ...d.document, paths } }];
  });
}
