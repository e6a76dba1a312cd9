import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";
import { workspaceFolders } from "../dev-runner/discover.ts";
import { addComposeService, ComposeEditError } from "./compose.ts";
import { deriveNames, type ServiceNames } from "./names.ts";
import { applyBlocks, fill, renderTemplates } from "./render.ts";
import { addServiceRoute, RouteEditRefusal } from "./route.ts";

/** The first port a scaffolded service may take (8080-8084: gateway, monolith, reference-data, validation, identity). */
export const FIRST_PORT = 8085;

/** Names a service cannot take: the stack's own containers and the route file's default route. */
const RESERVED = new Set(["gateway", "monolith", "postgres", "nats", "default", "identity", "fig"]);

const FRAGMENTS = join(import.meta.dir, "fragments");

/** A request the scaffold refuses before it writes anything; the message says why and what to do. */
export class ScaffoldRefusal extends Error {}

export type ScaffoldOptions = {
  /** The repository to write into (its services/, compose.yaml, fig.yaml, openapi/, loadtests/). */
  root: string;
  name: string;
  /** The resource's plural, its URL segment under /api (default: the service's name). */
  resource?: string | undefined;
  /** false: no database (`--no-db`); the resource keeps its rows in memory. */
  db: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
};

export type ScaffoldResult = {
  names: ServiceNames;
  port: number;
  /** Files created, repository-relative. */
  created: string[];
  /** Existing files changed, repository-relative. */
  changed: string[];
};

const read = (root: string, path: string) => readFileSync(join(root, path), "utf8");

/** Ports the workspaces' package.json files declare (`"fig": { "port" }`), whether or not the service is complete yet. */
function declaredPorts(root: string): Set<number> {
  const ports = new Set<number>();
  for (const dir of workspaceFolders(root)) {
    try {
      const port = (
        JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { fig?: { port?: unknown } }
      ).fig?.port;
      if (typeof port === "number") ports.add(port);
    } catch {
      throw new ScaffoldRefusal(`${relative(root, dir)}/package.json is not valid JSON; fix it first`);
    }
  }
  return ports;
}

/** The lowest port from FIRST_PORT on that no service under services/ declares. */
export function nextFreePort(root: string): number {
  const taken = declaredPorts(root);
  let port = FIRST_PORT;
  while (taken.has(port)) port++;
  return port;
}

/** Every workspace's package name (`@fig/…` or a system's own scope) and its folder, repository-relative. */
function workspaceNames(root: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const dir of workspaceFolders(root)) {
    const { name } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string };
    if (name) names.set(name, relative(root, dir));
  }
  return names;
}

/** Environment variables the code already reads (every config.ts) or the route file names. */
function knownVariables(root: string, routeText: string): Set<string> {
  const found = new Set<string>();
  const scan = (text: string) => {
    for (const match of text.matchAll(/\b([A-Z][A-Z0-9_]*_URL)\b/g)) found.add(match[1] as string);
  };
  scan(routeText);
  for (const dir of workspaceFolders(root)) {
    const config = join(dir, "src", "config.ts");
    if (existsSync(config)) scan(readFileSync(config, "utf8"));
  }
  return found;
}

/** Refuses a name that exists or would collide with something the stack already has. */
function refuseCollisions(root: string, names: ServiceNames, routeText: string) {
  const { name, env } = names;
  if (RESERVED.has(name))
    throw new ScaffoldRefusal(`"${name}" is reserved in Fig's stack; choose another name`);
  if (existsSync(join(root, "services", name)))
    throw new ScaffoldRefusal(`services/${name} exists already; choose another name`);
  const workspaces = workspaceNames(root);
  const owner = workspaces.get(`@fig/${name}`);
  if (owner)
    throw new ScaffoldRefusal(`the package @fig/${name} exists already (${owner}); choose another name`);
  // `bun run dev` names a service after its folder, wherever the workspace globs found it.
  const namesake = [...workspaces.values()].find((folder) => basename(folder) === name);
  if (namesake) throw new ScaffoldRefusal(`${namesake} exists already; choose another name`);
  for (const path of [`loadtests/${name}.js`, `openapi/${name}.json`])
    if (existsSync(join(root, path)))
      throw new ScaffoldRefusal(`${path} exists already; choose another name`);
  const variables = knownVariables(root, routeText);
  for (const variable of [`${env}_URL`, `${env}_DATABASE_URL`])
    if (variables.has(variable))
      throw new ScaffoldRefusal(
        `the gateway would read the service's URL from ${env}_URL, but ${variable} already means something else; choose another name`,
      );
}

function packageJson(names: ServiceNames, port: number, db: boolean): string {
  const dependencies: Record<string, string> = {
    "@fig/auth": "workspace:*",
    "@fig/bootstrap": "workspace:*",
    ...(db ? { "@fig/datasync": "workspace:*", "@fig/db": "workspace:*", "@fig/events": "workspace:*" } : {}),
    "@fig/service": "workspace:*",
    "@hono/zod-openapi": "^1.6.3",
    "@opentelemetry/api": "^1.10.0",
    ...(db ? { "drizzle-orm": "^0.45.4" } : {}),
    hono: "^4.13.19",
    ...(db ? { "prom-client": "^15.1.3" } : {}),
    zod: "^4.6.7",
  };
  const devDependencies: Record<string, string> = {
    "@fig/testing": "workspace:*",
    ...(db ? { "drizzle-kit": "^0.31.11" } : {}),
  };
  const manifest = {
    name: `@fig/${names.name}`,
    private: true,
    type: "module",
    exports: { ".": "./src/app.ts" },
    fig: { port },
    dependencies,
    devDependencies,
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Runs a command in `cwd`; throws with its output when it fails. */
async function run(cmd: string[], cwd: string): Promise<void> {
  const proc = Bun.spawn(cmd, { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const [out, err, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  if (code !== 0) {
    const shown = cmd.map((arg) => (arg === process.execPath ? "bun" : arg)).join(" ");
    throw new Error(`\`${shown}\` failed (exit ${code}):\n${`${out}\n${err}`.trim()}`);
  }
}

/** The generated migrations: drizzle-kit's from the schema, then the tenant isolation drizzle-kit cannot express. */
async function generateMigrations(root: string, names: ServiceNames, values: Record<string, string>) {
  const dir = join(root, "services", names.name);
  const drizzleKit = join(dir, "node_modules", ".bin", "drizzle-kit");
  await run([process.execPath, "--bun", drizzleKit, "generate", "--name", "init"], dir);
  await run([process.execPath, "--bun", drizzleKit, "generate", "--custom", "--name", "tenant_rls"], dir);
  const rls = readdirSync(join(dir, "drizzle")).find((f) => /^0001_.*\.sql$/.test(f));
  if (!rls) throw new Error("drizzle-kit wrote no 0001_tenant_rls.sql");
  const template = readFileSync(join(FRAGMENTS, "tenant_rls.sql.tmpl"), "utf8");
  writeFileSync(join(dir, "drizzle", rls), fill(template, values, "tenant_rls.sql.tmpl"));
}

/** What a file under `root` holds now, to put back if a later step fails (undefined: it did not exist). */
function snapshot(root: string, paths: string[]): Map<string, string | undefined> {
  return new Map(paths.map((p) => [p, existsSync(join(root, p)) ? read(root, p) : undefined]));
}

function restore(root: string, saved: Map<string, string | undefined>, created: string[]) {
  for (const [path, text] of saved) {
    if (text === undefined) rmSync(join(root, path), { force: true });
    else writeFileSync(join(root, path), text);
  }
  for (const path of created) rmSync(join(root, path), { recursive: true, force: true });
}

/** Everything the scaffold will write, computed before the first write. */
type Plan = {
  names: ServiceNames;
  port: number;
  values: Record<string, string>;
  /** New files, repository-relative. */
  files: { path: string; text: string }[];
  /** New text of existing files. */
  edits: Record<"fig.yaml" | "compose.yaml", string>;
};

/** Reads the repository and decides every file; refuses (ScaffoldRefusal) before anything is written. */
function planScaffold({ root, db, ...options }: ScaffoldOptions): Plan {
  let names: ServiceNames;
  try {
    names = deriveNames(options.name, options.resource);
  } catch (error) {
    throw new ScaffoldRefusal((error as Error).message);
  }
  for (const required of ["fig.yaml", "compose.yaml", "package.json"])
    if (!existsSync(join(root, required)))
      throw new ScaffoldRefusal(`${root} has no ${required}: run this at the root of a Fig repository`);
  const routeText = read(root, "fig.yaml");
  refuseCollisions(root, names, routeText);
  const port = nextFreePort(root);
  // `state` is what the routes and verbs get (deps.db or deps.store); `testState` the same in a test (t.…).
  const values: Record<string, string> = {
    ...names,
    port: String(port),
    state: db ? "db" : "store",
    testState: db ? "tdb.db" : "store",
  };
  try {
    const entry = applyBlocks(
      fill(readFileSync(join(FRAGMENTS, "compose-service.yaml.tmpl"), "utf8"), values, "compose"),
      { db },
      "compose",
    );
    const edits = {
      "fig.yaml": addServiceRoute(routeText, names, port, db),
      "compose.yaml": addComposeService(read(root, "compose.yaml"), {
        name: names.name,
        entry,
        database: db ? names.database : undefined,
        urlVariable: `${names.env}_URL`,
        url: `http://${names.name}:${port}`,
      }),
    };
    const files = [
      { path: `services/${names.name}/package.json`, text: packageJson(names, port, db) },
      ...renderTemplates(values, { db }),
    ];
    return { names, port, values, files, edits };
  } catch (error) {
    if (error instanceof ComposeEditError || error instanceof RouteEditRefusal)
      throw new ScaffoldRefusal(error.message);
    throw error;
  }
}

/** Writes the plan, installs the workspace, generates migrations, formats, and writes the OpenAPI documents. */
async function applyPlan(root: string, plan: Plan, db: boolean, log: (line: string) => void) {
  const { names, files, edits, values } = plan;
  const serviceDir = `services/${names.name}`;
  for (const file of files) {
    mkdirSync(dirname(join(root, file.path)), { recursive: true });
    writeFileSync(join(root, file.path), file.text);
  }
  for (const [path, text] of Object.entries(edits)) writeFileSync(join(root, path), text);
  log(`wrote ${serviceDir} and its route in fig.yaml; installing it into the workspace…`);
  await run([process.execPath, "install"], root);
  if (db) {
    log("generating its first migration (drizzle-kit)…");
    await generateMigrations(root, names, values);
  }
  // Line wrapping depends on the names' lengths: Biome lays the files out as `bun run lint` expects.
  log("formatting what it wrote (biome)…");
  await run(
    [process.execPath, "x", "biome", "check", "--write", serviceDir, `loadtests/${names.name}.js`],
    root,
  );
  log("writing its OpenAPI document (bun run openapi)…");
  await run([process.execPath, "scripts/openapi.ts"], root);
}

/**
 * Writes a new service that reads like the others, wires it into compose.yaml and fig.yaml (a route at 0 %),
 * installs it into the workspace, generates its migrations and its OpenAPI document, and formats what it wrote.
 * Refuses (ScaffoldRefusal, nothing written) a bad or taken name; a later failure puts every file back.
 *
 * @example
 * const { port } = await scaffoldService({ root, name: "case-notes", resource: "notes", db: true });
 */
export async function scaffoldService(options: ScaffoldOptions): Promise<ScaffoldResult> {
  const { root, db, log = () => {} } = options;
  const plan = planScaffold(options);
  const { names } = plan;
  const openapiDir = existsSync(join(root, "openapi")) ? readdirSync(join(root, "openapi")) : [];
  const saved = snapshot(root, [
    ...Object.keys(plan.edits),
    "bun.lock",
    ...openapiDir.map((f) => `openapi/${f}`),
  ]);
  const created = [`services/${names.name}`, `loadtests/${names.name}.js`, `openapi/${names.name}.json`];
  try {
    await applyPlan(root, plan, db, log);
  } catch (error) {
    restore(root, saved, created);
    await run([process.execPath, "install"], root).catch(() => {});
    throw error;
  }
  const changed = [...saved]
    .filter(([path, before]) => before !== undefined && read(root, path) !== before)
    .map(([path]) => path);
  return {
    names,
    port: plan.port,
    created: [
      ...plan.files.map((f) => f.path),
      ...(db ? [`services/${names.name}/drizzle/`] : []),
      `openapi/${names.name}.json`,
    ],
    changed,
  };
}
