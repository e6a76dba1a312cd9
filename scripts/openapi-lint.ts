/**
 * `bun run openapi:lint`: Redocly CLI's `lint` (rules in redocly.yaml) over every OpenAPI document in
 * openapi/, so a new service's spec is covered as soon as `bun run openapi` writes it. The AsyncAPI
 * document is skipped here: `bun run openapi` validates it with the AsyncAPI parser.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";

const root = join(import.meta.dir, "..");
const specs = readdirSync(join(root, "openapi"))
  .filter((name) => name.endsWith(".json") && !name.endsWith(".asyncapi.json"))
  .sort()
  .map((name) => join("openapi", name));
if (specs.length === 0) {
  console.error("✗ no openapi/*.json to lint: run `bun run openapi` first");
  process.exit(1);
}

const lint = Bun.spawn(
  [
    "bun",
    "--bun",
    join(root, "node_modules", ".bin", "redocly"),
    "lint",
    "--config",
    "redocly.yaml",
    ...specs,
  ],
  {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    // Offline and quiet: no telemetry, no "new version available" look-up on the npm registry.
    env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" },
  },
);
process.exit(await lint.exited);
