import { readFileSync } from "node:fs";
import { isMap, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { z } from "zod";
import { formatPath, RouteFileError, type RouteFileIssue } from "./errors.ts";
import { type PolicyDefaults, type RouteFile, type RouteFileRoute, routeFileSchema } from "./schema.ts";
import type { RouteDefinition, RoutePolicies, RouteTable } from "./types.ts";

/** The environment the file's `{ env: NAME }` references are read from: the caller's config, never process.env here. */
export type RouteFileEnv = Record<string, string | undefined>;

/**
 * An upstream with its environment resolved. `database` is absent when its variable is unset; `url` is empty only
 * when loaded with `requireUrls: false` and its variable is unset with no default.
 */
export type ResolvedUpstream = { name: string; url: string; openapi?: string; database?: string };

export type LoadedRouteFile = {
  /** The file as written, validated (environment references left as written). */
  file: RouteFile;
  upstreams: Record<string, ResolvedUpstream>;
  /** The gateway's route table: the seed of the live state in NATS KV. */
  table: RouteTable;
};

/** Fig's policies when neither `defaults` nor a route says otherwise. */
export const BUILTIN_DEFAULTS = {
  auth: { read: "viewer", write: "editor" },
  rateLimit: { perMinute: 100, byRole: {} },
  timeoutMs: 10_000,
  retries: 1,
  breaker: true,
} as const satisfies Omit<RoutePolicies, "readFallback" | "shadow">;

/**
 * Parses and validates a route file's text (YAML) without reading any environment: for `fig routes check`
 * and for tools that edit the file. Throws RouteFileError with every mistake and its line.
 *
 * @example
 * const file = parseRouteFile(readFileSync("fig.yaml", "utf8"), "fig.yaml");
 */
export function parseRouteFile(text: string, source?: string): RouteFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0)
    throw new RouteFileError(
      doc.errors.map((e) => ({
        path: "(yaml)",
        reason: e.message.split("\n")[0] ?? e.message,
        line: lines.linePos(e.pos[0]).line,
      })),
      source,
    );
  const result = routeFileSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  throw new RouteFileError(
    result.error.issues.map((issue) => ({
      path: formatPath(issue.path),
      reason: reasonOf(issue),
      line: lineOf(doc.contents, issue.path, lines),
    })),
    source,
  );
}

function reasonOf(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `unknown field(s) ${issue.keys.join(", ")}`;
  if (issue.code === "invalid_type" && issue.message.endsWith("received undefined")) return "required";
  return issue.message;
}

/** The line of the deepest node of `path` the document has (an unknown key's parent, a missing field's map). */
function lineOf(node: unknown, path: readonly PropertyKey[], lines: LineCounter): number | undefined {
  let current = node as Node | null | undefined;
  for (const key of path) {
    const next =
      isMap(current) || isSeq(current)
        ? (current.get(typeof key === "number" ? key : String(key), true) as Node | undefined)
        : undefined;
    if (!next) break;
    current = next;
  }
  const offset = current?.range?.[0];
  return offset === undefined ? undefined : lines.linePos(offset).line;
}

/**
 * Reads, validates and converts a route file. Environment references are resolved from `env` (the caller's
 * config: the gateway passes its own environment). Throws RouteFileError listing every mistake.
 *
 * @example
 * const { table } = loadRouteFile({ file: config.FIG_ROUTES_FILE, env: config.routeEnv });
 */
export function loadRouteFile({
  file,
  env,
  requireUrls = true,
}: {
  file: string;
  env: RouteFileEnv;
  requireUrls?: boolean;
}): LoadedRouteFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new RouteFileError([{ path: "(file)", reason: `cannot read: ${(error as Error).message}` }], file);
  }
  return loadRouteText(text, { env, source: file, requireUrls });
}

/** As loadRouteFile, from the file's text. */
export function loadRouteText(
  text: string,
  { env, source, requireUrls = true }: { env: RouteFileEnv; source?: string; requireUrls?: boolean },
): LoadedRouteFile {
  return resolveRouteFile(parseRouteFile(text, source), env, source, { requireUrls });
}

/**
 * Resolves a validated file's environment references and converts it into the gateway's route table.
 * `requireUrls: false` is for tools that never send to an upstream (the OpenAPI document, migrate-data): an
 * upstream URL whose variable is unset and has no default is left empty instead of being an error.
 */
export function resolveRouteFile(
  file: RouteFile,
  env: RouteFileEnv,
  source?: string,
  { requireUrls = true }: { requireUrls?: boolean } = {},
): LoadedRouteFile {
  const issues: RouteFileIssue[] = [];
  const read = <T>(value: T | { env: string; default?: T }, schema: z.ZodType<T>, path: PropertyKey[]) =>
    resolveValue(value, schema, path, env, issues);
  const url = z.url();
  const positive = z.coerce.number().int().positive();

  const upstreams: Record<string, ResolvedUpstream> = {};
  for (const [name, u] of Object.entries(file.upstreams)) {
    const unset = !requireUrls && typeof u.url === "object" && !env[u.url.env] && u.url.default === undefined;
    const resolved: ResolvedUpstream = {
      name,
      url: unset ? "" : (read(u.url, url, ["upstreams", name, "url"]) ?? ""),
    };
    if (u.openapi) resolved.openapi = u.openapi;
    if (u.database !== undefined) {
      const database = resolveValue(u.database, z.string(), ["upstreams", name, "database"], env, []);
      if (database) resolved.database = database;
    }
    upstreams[name] = resolved;
  }
  const policies = (
    over: PolicyDefaults | undefined,
    base: BasePolicies,
    path: PropertyKey[],
  ): BasePolicies => {
    const byRole: Record<string, number> = { ...base.rateLimit.byRole };
    for (const [role, value] of Object.entries(over?.rateLimit?.byRole ?? {}))
      byRole[role] = read(value, positive, [...path, "rateLimit", "byRole", role]) ?? 0;
    return {
      auth: over?.auth ?? base.auth,
      rateLimit: {
        perMinute:
          over?.rateLimit?.perMinute === undefined
            ? base.rateLimit.perMinute
            : (read(over.rateLimit.perMinute, positive, [...path, "rateLimit", "perMinute"]) ?? 0),
        byRole,
      },
      timeoutMs:
        over?.timeoutMs === undefined
          ? base.timeoutMs
          : (read(over.timeoutMs, positive, [...path, "timeoutMs"]) ?? 0),
      retries: over?.retries ?? base.retries,
      breaker: over?.breaker ?? base.breaker,
    };
  };
  const base = policies(file.defaults, BUILTIN_DEFAULTS, ["defaults"]);
  const owner = file.monolith.backendRef;
  const defaultRoute: RouteDefinition = {
    id: "default",
    prefixes: [file.monolith.prefix],
    methods: "*",
    upstreams: [{ name: owner, url: upstreams[owner]?.url ?? "", weight: 100 }],
    state: "active",
    writeOwner: owner,
    writes: "owner",
    policies: {
      ...policies(file.monolith.fig, base, ["monolith", "fig"]),
      readFallback: false,
      shadow: false,
    },
  };
  const routes = file.routes.map((route, r) =>
    toRouteDefinition(route, policies(route.fig, base, ["routes", r, "fig"]), upstreams),
  );
  if (issues.length > 0) throw new RouteFileError(issues, source);
  return { file, upstreams, table: { defaultRoute, routes } };
}

type BasePolicies = Omit<RoutePolicies, "readFallback" | "shadow">;

function toRouteDefinition(
  route: RouteFileRoute,
  policies: BasePolicies,
  upstreams: Record<string, ResolvedUpstream>,
): RouteDefinition {
  const methods = route.matches.some((m) => !m.method)
    ? "*"
    : [...new Set(route.matches.map((m) => m.method as string))];
  const mirror = route.filters?.[0]?.requestMirror;
  const fig = route.fig;
  const definition: RouteDefinition = {
    id: route.name,
    prefixes: [...new Set(route.matches.map((m) => m.path.value))],
    methods,
    upstreams: route.backendRefs.map((b) => ({
      name: b.name,
      url: upstreams[b.name]?.url ?? "",
      weight: b.weight,
    })),
    state: "active",
    writeOwner: fig?.writeOwner ?? route.backendRefs[0]?.name ?? "",
    writes: fig?.writes ?? "owner",
    policies: {
      ...policies,
      readFallback: fig?.readFallback ?? false,
      shadow: mirror
        ? {
            percent: mirror.percent,
            candidate: mirror.backendRef.name,
            ignorePaths: fig?.shadow?.ignorePaths ?? [],
          }
        : false,
    },
  };
  if (fig?.listMerge) definition.listMerge = fig.listMerge;
  if (fig?.gate) definition.gate = fig.gate;
  return definition;
}

/** A literal as written, or the named variable (empty counts as unset), else its default. */
function resolveValue<T>(
  value: T | { env: string; default?: T },
  schema: z.ZodType<T>,
  path: PropertyKey[],
  env: RouteFileEnv,
  issues: RouteFileIssue[],
): T | undefined {
  if (typeof value !== "object" || value === null || !("env" in value)) return value as T;
  const raw = env[value.env];
  if (raw === undefined || raw === "") {
    if (value.default !== undefined) return value.default;
    issues.push({
      path: formatPath(path),
      reason: `environment variable ${value.env} is not set and has no default`,
    });
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data;
  issues.push({
    path: formatPath(path),
    reason: `${value.env}=${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? "invalid"}`,
  });
  return undefined;
}
