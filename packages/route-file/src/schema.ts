import { ROLES } from "@fig/auth";
import { z } from "zod";
import { dataDeclarationSchema } from "./data.ts";
import { queueDeclarationsSchema } from "./queues.ts";
import { ROOT_PREFIXES } from "./types.ts";

/**
 * The route file's one schema (fig.yaml). Shapes follow the Kubernetes Gateway API's HTTPRoute where it has the
 * concept (`matches[].path`, `method`, `backendRefs[{name, weight}]`, a `RequestMirror` filter); Fig's own
 * fields live under `fig:`. Cross-field rules (names that must exist, weights that must sum to 100, prefixes
 * two routes claim) are checked here too, so one parse reports every mistake with its field path.
 */

/** A value read from an environment variable the file names, with an optional default. */
export const envRefSchema = z
  .object({
    env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "not an environment variable name"),
    default: z.unknown().optional(),
  })
  .strict();
export type EnvRef<T> = { env: string; default?: T };

const isEnvRef = (value: unknown): value is { env: unknown } =>
  typeof value === "object" && value !== null && !Array.isArray(value) && "env" in value;

/** `base` as written, or `{ env: NAME, default: <base> }`; the environment is read later (load.ts). */
function valueOrEnv<T extends z.ZodType>(base: T) {
  const ref = envRefSchema.extend({ default: base.optional() });
  return z.custom<z.output<T> | EnvRef<z.output<T>>>().superRefine((value, ctx) => {
    if (value === undefined) return ctx.addIssue({ code: "custom", message: "required", input: value });
    const result = (isEnvRef(value) ? ref : base).safeParse(value);
    if (result.success) return;
    for (const issue of result.error.issues)
      ctx.addIssue({ code: "custom", message: issue.message, path: issue.path, input: value });
  });
}

const role = z.enum(ROLES, {
  error: (issue) => `unknown role ${JSON.stringify(issue.input)} (known: ${ROLES.join(", ")})`,
});
const positiveInt = z.number().int().positive();
const name = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "a lowercase slug: letters, digits and inner dashes");
const pathPrefix = z
  .string()
  .regex(/^\/([^/?#]+(\/[^/?#]+)*)?$/, "an absolute path without a trailing slash, query or fragment");

export const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

export const upstreamSchema = z
  .object({
    /** The upstream's base URL. */
    url: valueOrEnv(z.url({ protocol: /^https?$/, error: "expected an http(s) URL" })),
    /** Its OpenAPI document, merged into the gateway's /openapi.json: a repo path, or `/path` on the upstream. */
    openapi: z.string().min(1).optional(),
    /** Its database (data sync reads and writes it); unresolved when the variable is unset. */
    database: valueOrEnv(z.string().min(1)).optional(),
  })
  .strict();

export const policyFieldsShape = {
  /** Gateway-side authentication: these roles for reads / writes; `false` lets anonymous requests through. */
  auth: z.union([z.literal(false), z.object({ read: role, write: role }).strict()]).optional(),
  /** Token bucket per consumer and route, refilled over a minute; `byRole` overrides (the highest held wins). */
  rateLimit: z
    .object({
      perMinute: valueOrEnv(positiveInt).optional(),
      byRole: z.partialRecord(role, valueOrEnv(positiveInt)).optional(),
    })
    .strict()
    .optional(),
  /** Route deadline for the upstream's response headers. */
  timeoutMs: valueOrEnv(positiveInt).optional(),
  /** Retries of idempotent requests on connection errors and 502/503/504, inside the retry budget. */
  retries: z.number().int().min(0).max(10).optional(),
  /** A circuit breaker per upstream. */
  breaker: z.boolean().optional(),
};
export const policyDefaultsSchema = z.object(policyFieldsShape).strict();

const listMergeSchema = z
  .object({
    path: pathPrefix,
    sortKey: z.string().min(1),
    idKey: z.string().min(1),
    itemsField: z.string().min(1),
    defaultLimit: positiveInt,
    archivedField: z.string().min(1).optional(),
  })
  .strict();

const gateSchema = z
  .object({ script: z.string().min(1), roles: z.array(role).min(1), tenant: z.string().min(1) })
  .strict();

export const routeFigSchema = z
  .object({
    ...policyFieldsShape,
    /** `owner`: writes go to writeOwner; `owner-per-request`: where the weights send them; `stateless`. */
    writes: z.enum(["owner", "owner-per-request", "stateless"]).optional(),
    /** The backendRef that takes writes; default the first (the legacy side). */
    writeOwner: z.string().optional(),
    /** A GET answered 404 is asked of the route's other upstream(s). */
    readFallback: z.boolean().optional(),
    /** How mirrored answers are compared: JSON field paths left out. Needs a RequestMirror filter. */
    shadow: z
      .object({ ignorePaths: z.array(z.string().min(1)).default([]) })
      .strict()
      .optional(),
    /** What `bun run promote` runs at every step. */
    gate: gateSchema.optional(),
    /** Lists answered from every upstream of the route, merged newest first. */
    listMerge: z.array(listMergeSchema).optional(),
    /** The tables data sync moves with the route. */
    data: dataDeclarationSchema.optional(),
  })
  .strict();

const matchSchema = z
  .object({
    path: z
      .object({
        type: z
          .literal("PathPrefix", { error: "only PathPrefix is supported (the gateway matches prefixes)" })
          .default("PathPrefix"),
        value: pathPrefix,
      })
      .strict(),
    method: z.enum(METHODS, { error: `expected one of ${METHODS.join(", ")}` }).optional(),
  })
  .strict();

const percent = "an integer percent, 0 to 100";
const percentSchema = z.number({ error: percent }).int({ error: percent }).min(0, percent).max(100, percent);
const backendRefSchema = z.object({ name: z.string().min(1), weight: percentSchema }).strict();

const mirrorFilterSchema = z
  .object({
    type: z.literal("RequestMirror", { error: "only RequestMirror filters are supported" }),
    requestMirror: z
      .object({
        backendRef: z.object({ name: z.string().min(1) }).strict(),
        percent: percentSchema.default(0),
      })
      .strict(),
  })
  .strict();

export const routeSchema = z
  .object({
    /** Slug: the admin API's `{id}` and the `route` label of metrics. */
    name,
    matches: z.array(matchSchema).min(1),
    /** Seed weights; the first is the legacy side (stable, fallback, the one a breaker falls back to). */
    backendRefs: z.array(backendRefSchema).min(1),
    filters: z.array(mirrorFilterSchema).max(1, "at most one RequestMirror filter").optional(),
    fig: routeFigSchema.optional(),
  })
  .strict();

export const defaultRouteSchema = z
  .object({
    /** The monolith's upstream: everything under `prefix` that no route matches goes there. */
    backendRef: z.string().min(1),
    /** The proxied space. The gateway mounts its proxy on /api only, so another value is refused, not ignored. */
    prefix: z
      .literal("/api", { error: "the gateway proxies /api (the only prefix supported)" })
      .default("/api"),
    fig: policyDefaultsSchema.optional(),
  })
  .strict();

const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
const methodsOf = (route: z.output<typeof routeSchema>): Set<string> | "*" =>
  route.matches.some((m) => !m.method) ? "*" : new Set(route.matches.map((m) => m.method as string));
const shareMethod = (a: Set<string> | "*", b: Set<string> | "*") =>
  a === "*" || b === "*" || [...a].some((m) => b.has(m));

export const routeFileSchema = z
  .object({
    upstreams: z.record(name, upstreamSchema).refine((u) => Object.keys(u).length > 0, "declare an upstream"),
    defaults: policyDefaultsSchema.optional(),
    monolith: defaultRouteSchema,
    // `routes:` with nothing after it is YAML null: a file with no routes yet, as `routes: []` is.
    routes: z
      .array(routeSchema)
      .nullish()
      .transform((routes) => routes ?? []),
    queues: queueDeclarationsSchema.optional(),
  })
  .strict()
  .superRefine((file, ctx) => {
    const known = Object.keys(file.upstreams);
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: "custom", path, message, input: undefined });
    const unknown = (n: string) => `unknown upstream ${JSON.stringify(n)} (known: ${known.join(", ")})`;
    if (!known.includes(file.monolith.backendRef))
      issue(["monolith", "backendRef"], unknown(file.monolith.backendRef));

    const seen = new Map<string, number>();
    const claims: { prefix: string; methods: Set<string> | "*"; route: number; match: number }[] = [];
    file.routes.forEach((route, r) => {
      const at = (...rest: (string | number)[]) => ["routes", r, ...rest];
      if (route.name === "default") issue(at("name"), `"default" is the monolith's route`);
      const first = seen.get(route.name);
      if (first !== undefined)
        issue(at("name"), `duplicate route name "${route.name}" (also routes[${first}])`);
      else seen.set(route.name, r);

      const refs = route.backendRefs.map((b) => b.name);
      route.backendRefs.forEach((b, i) => {
        if (!known.includes(b.name)) issue(at("backendRefs", i, "name"), unknown(b.name));
        if (refs.indexOf(b.name) !== i) issue(at("backendRefs", i, "name"), `"${b.name}" is listed twice`);
      });
      const sum = route.backendRefs.reduce((s, b) => s + b.weight, 0);
      if (sum !== 100) issue(at("backendRefs"), `weights sum to ${sum}, not 100`);

      const methods = methodsOf(route);
      const prefixes = [...new Set(route.matches.map((m) => m.path.value))];
      if (methods !== "*" && route.matches.length !== prefixes.length * methods.size)
        issue(
          at("matches"),
          "every path must be listed with every method of the route (the gateway routes prefixes × methods)",
        );
      route.matches.forEach((m, i) => {
        const prefix = m.path.value;
        const space = file.monolith.prefix;
        const under = (root: string) => prefix === root || prefix.startsWith(`${root}/`);
        if (!under(space) && !ROOT_PREFIXES.some(under))
          issue(
            at("matches", i, "path", "value"),
            `${prefix} is outside the proxied space ${[space, ...ROOT_PREFIXES].join(", ")}`,
          );
        for (const other of claims)
          if (other.route !== r && overlaps(prefix, other.prefix) && shareMethod(methods, other.methods))
            issue(
              at("matches", i, "path", "value"),
              `${prefix} overlaps ${other.prefix} of routes[${other.route}] (${file.routes[other.route]?.name})`,
            );
      });
      for (const [i, prefix] of prefixes.entries()) claims.push({ prefix, methods, route: r, match: i });

      const owner = route.fig?.writeOwner;
      if (owner !== undefined && !refs.includes(owner))
        issue(
          at("fig", "writeOwner"),
          `"${owner}" is not among the route's backendRefs (${refs.join(", ")})`,
        );
      const mirror = route.filters?.[0]?.requestMirror.backendRef.name;
      if (mirror !== undefined && !refs.includes(mirror))
        issue(
          at("filters", 0, "requestMirror", "backendRef", "name"),
          `"${mirror}" is not among the route's backendRefs (${refs.join(", ")})`,
        );
      else if (mirror !== undefined && mirror === refs[0])
        issue(
          at("filters", 0, "requestMirror", "backendRef", "name"),
          `"${mirror}" is the route's legacy side; mirror to a candidate`,
        );
      if (route.fig?.shadow && mirror === undefined)
        issue(at("fig", "shadow"), "needs a RequestMirror filter naming the shadow candidate");
      route.fig?.listMerge?.forEach((spec, i) => {
        if (!prefixes.some((p) => spec.path === p || spec.path.startsWith(`${p}/`)))
          issue(at("fig", "listMerge", i, "path"), `${spec.path} is not under the route's paths`);
      });
    });
  });

/** The route file as written (environment references unresolved). */
export type RouteFile = z.output<typeof routeFileSchema>;
export type RouteFileInput = z.input<typeof routeFileSchema>;
export type RouteFileRoute = z.output<typeof routeSchema>;
export type RouteFileRouteInput = z.input<typeof routeSchema>;
export type UpstreamDeclaration = z.output<typeof upstreamSchema>;
export type UpstreamDeclarationInput = z.input<typeof upstreamSchema>;
export type PolicyDefaults = z.output<typeof policyDefaultsSchema>;
