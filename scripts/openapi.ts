/**
 * `bun run openapi`: builds each service's app without starting it or touching a database, writes
 * openapi/<service>.json (OpenAPI 3.1) and openapi/events.asyncapi.json (AsyncAPI 3.0), and validates them. `--check` writes nothing and fails when a
 * committed spec differs from the generated one (CI's drift check).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Parser } from "@asyncapi/parser";
import { validate } from "@scalar/openapi-parser";
import { asyncApiDocument } from "../packages/events/src/asyncapi.ts";
import { createLogger } from "../packages/service/src/index.ts";
import { discoverServices } from "./dev-runner/discover.ts";

const root = join(import.meta.dir, "..");
const check = process.argv.includes("--check");
const logger = createLogger({ service: "openapi", level: "silent" });
const outDir = join(root, "openapi");
mkdirSync(outDir, { recursive: true });

/** Stable output: paths and component schemas sorted by name; the rest keeps the generator's order. */
function stable(doc: Record<string, unknown>): Record<string, unknown> {
  const sortKeys = (o: Record<string, unknown> | undefined) =>
    o && Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  const components = doc.components as Record<string, Record<string, unknown>> | undefined;
  return {
    ...doc,
    paths: sortKeys(doc.paths as Record<string, unknown>),
    ...(components ? { components: { ...components, schemas: sortKeys(components.schemas) } } : {}),
  };
}

/** Writes openapi/<name>, or with --check compares it to the committed file; false on drift. */
async function emit(name: string, text: string, summary: string): Promise<boolean> {
  const file = join(outDir, name);
  if (!check) {
    await Bun.write(file, text);
    console.log(`✓ wrote openapi/${name} (${summary})`);
    return true;
  }
  let committed = "";
  try {
    committed = readFileSync(file, "utf8");
  } catch {}
  if (committed !== text) {
    console.error(`✗ openapi/${name} differs from the code: run \`bun run openapi\` and commit the result`);
    return false;
  }
  console.log(`✓ openapi/${name} is up to date (${summary})`);
  return true;
}

let failed = false;
// The gateway merges the upstreams' committed documents that fig.yaml lists, so it comes after them.
const services = discoverServices(root).sort(
  (a, b) => Number(a.name === "gateway") - Number(b.name === "gateway"),
);
const routesFile = join(root, "fig.yaml");
for (const service of services) {
  const appModule = join(service.dir, "src", "app.ts");
  const { openApiDocument } = (await import(appModule)) as {
    openApiDocument?: (l: typeof logger, routesFile: string) => object;
  };
  if (!openApiDocument) continue;
  const doc = stable(openApiDocument(logger, routesFile) as Record<string, unknown>);
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  const { valid, errors } = await validate(text);
  if (!valid) {
    failed = true;
    console.error(`✗ ${service.name}: the generated spec is not valid OpenAPI 3.1`);
    for (const e of errors ?? []) console.error(`    ${JSON.stringify(e)}`);
  }
  const file = join(outDir, `${service.name}.json`);
  if (check) {
    let committed = "";
    try {
      committed = readFileSync(file, "utf8");
    } catch {}
    if (committed !== text) {
      failed = true;
      console.error(
        `✗ openapi/${service.name}.json differs from the code: run \`bun run openapi\` and commit the result`,
      );
    } else console.log(`✓ openapi/${service.name}.json is up to date and valid`);
  } else {
    await Bun.write(file, text);
    console.log(
      `✓ wrote openapi/${service.name}.json (${Object.keys(doc.paths ?? {}).length} paths, valid 3.1)`,
    );
  }
}
// The event catalog as AsyncAPI 3.0, validated with the AsyncAPI parser.
{
  const doc = asyncApiDocument();
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  const { diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === 0);
  if (errors.length > 0) {
    failed = true;
    console.error("✗ events: the generated AsyncAPI document is not valid");
    for (const e of errors) console.error(`    ${e.path.join("/")} ${e.message}`);
  }
  failed =
    !(await emit(
      "events.asyncapi.json",
      text,
      `${Object.keys(doc.channels).length} channels, valid AsyncAPI 3.0`,
    )) || failed;
}

process.exit(failed ? 1 : 0);
