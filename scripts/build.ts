/**
 * `bun run build`: bundles each service's entry point into services/<name>/dist/main.js (what the container
 * images run). Loading one bundled file instead of the module graph roughly halves the time to /ready.
 * `bun run dev` and the tests run the sources; nothing here is needed for them.
 */
import { join } from "node:path";
import { discoverServices } from "./dev-runner/discover.ts";

const root = join(import.meta.dir, "..");
let failed = false;
for (const service of discoverServices(root)) {
  const dir = join(root, "services", service.name);
  const result = await Bun.build({
    entrypoints: [join(dir, "src", "main.ts")],
    outdir: join(dir, "dist"),
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
  console.log(`✓ services/${service.name}/dist/main.js (${(bytes / 1024 / 1024).toFixed(1)} MiB)`);
}
process.exit(failed ? 1 : 0);
