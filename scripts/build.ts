/**
 * `bun run build`: bundles each service's entry point into <its folder>/dist/main.js (what the container
 * images run). Loading one bundled file instead of the module graph roughly halves the time to /ready.
 * `--service <name>` (repeatable) builds only those: an image's build stage builds its own service.
 * `bun run dev` and the tests run the sources; nothing here is needed for them.
 */
import { copyFileSync, existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { parseArgs } from "node:util";
import { type DevService, DiscoveryError, discoverServices } from "./dev-runner/discover.ts";

const usage = `usage: bun scripts/build.ts [--service <name>]...

Bundles <service folder>/src/main.ts into <service folder>/dist/ for every workspace with a "fig.port"
(or only the services named).`;

function fail(message: string): never {
  console.error(`✗ ${message}`);
  process.exit(2);
}

let args: { service?: string[]; help?: boolean };
try {
  args = parseArgs({
    args: Bun.argv.slice(2),
    options: { service: { type: "string", multiple: true }, help: { type: "boolean", short: "h" } },
    strict: true,
  }).values;
} catch (error) {
  fail(`${(error as Error).message}\n\n${usage}`);
}
if (args.help) {
  console.log(usage);
  process.exit(0);
}

const root = join(import.meta.dir, "..");

// Files a bundled library loads with `new URL("./<file>", import.meta.url)`: in a bundle that URL is dist/,
// so they are copied there. PGlite's (~15 MB) keep embedded mode (no DATABASE_URL) working from dist/;
// a service without migrations (drizzle/) has no database and never opens PGlite, so it goes without.
const runtimeAssets = [
  {
    module: "@electric-sql/pglite",
    from: join(root, "packages", "db"),
    files: ["pglite.wasm", "pglite.data", "initdb.wasm"],
  },
];

async function copyRuntimeAssets(bundle: string, outdir: string): Promise<string[]> {
  const text = await Bun.file(bundle).text();
  const copied: string[] = [];
  for (const { module, from, files } of runtimeAssets) {
    const wanted = files.filter((file) => text.includes(`new URL("./${file}",import.meta.url)`));
    if (wanted.length === 0) continue;
    const dir = dirname(Bun.resolveSync(module, from));
    for (const file of wanted) copyFileSync(join(dir, file), join(outdir, file));
    copied.push(...wanted);
  }
  return copied;
}

let services: DevService[];
try {
  services = discoverServices(root);
} catch (error) {
  if (error instanceof DiscoveryError) fail(error.message);
  throw error;
}
if (args.service) {
  const known = new Set(services.map((s) => s.name));
  const unknown = args.service.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    fail(`no service named ${unknown.join(", ")} (found: ${[...known].join(", ") || "none"})`);
  }
  const wanted = new Set(args.service);
  services = services.filter((s) => wanted.has(s.name));
}

let failed = false;
for (const service of services) {
  const outdir = join(service.dir, "dist");
  const result = await Bun.build({
    entrypoints: [service.main],
    outdir,
    target: "bun",
    sourcemap: "linked",
    minify: true,
  });
  if (!result.success) {
    failed = true;
    console.error(`✗ ${service.name}:`);
    for (const log of result.logs) console.error(`  ${log}`);
    continue;
  }
  const bytes = result.outputs.reduce((n, o) => n + o.size, 0);
  const hasDatabase = existsSync(join(service.dir, "drizzle"));
  const assets = hasDatabase ? await copyRuntimeAssets(join(outdir, "main.js"), outdir) : [];
  const extra = assets.length > 0 ? `; beside it: ${assets.join(", ")}` : "";
  console.log(`✓ ${relative(root, outdir)}/main.js (${(bytes / 1024 / 1024).toFixed(1)} MiB${extra})`);
}
process.exit(failed ? 1 : 0);
