/**
 * `bun run new service <name> [--no-db] [--resource <plural>]`: writes services/<name> reading like the others
 * (app, main, config, a tenant-scoped CRUD resource, domain verbs, schema and first migration, tests with a
 * security table, Dockerfile), its compose.yaml entry, openapi/<name>.json, a gate script under loadtests/ and a
 * route in fig.yaml at 0 %. Templates: scripts/new-service/templates/. Guide: docs/adding-a-service.md.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ScaffoldRefusal, type ScaffoldResult, scaffoldService } from "./new-service/scaffold.ts";

const usage = `usage: bun run new service <name> [--no-db] [--resource <plural>]

  <name>                 the service: lowercase words with dashes (case-notes); also its route and upstream
  --resource <plural>    its first resource, served at /api/<plural> (default: the service's name)
  --no-db                no database: the resource keeps its rows in memory
  --root <dir>           the repository to write into (default: this one)`;

function fail(message: string, code = 2): never {
  console.error(`✗ ${message}`);
  process.exit(code);
}

let parsed: {
  values: { "no-db"?: boolean; resource?: string; root?: string; help?: boolean };
  positionals: string[];
};
try {
  parsed = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      "no-db": { type: "boolean" },
      resource: { type: "string" },
      root: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
    strict: true,
  });
} catch (error) {
  fail(`${(error as Error).message}\n\n${usage}`);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const [kind, name, ...extra] = positionals;
if (kind !== "service") fail(`only \`new service\` exists (got ${JSON.stringify(kind ?? "")})\n\n${usage}`);
if (!name) fail(`name the service: \`bun run new service <name>\`\n\n${usage}`);
if (extra.length > 0) fail(`one name at a time (got ${[name, ...extra].join(", ")})\n\n${usage}`);

const root = resolve(values.root ?? join(import.meta.dir, ".."));
const db = !values["no-db"];
let result: ScaffoldResult;
try {
  result = await scaffoldService({
    root,
    name,
    resource: values.resource,
    db,
    log: (line) => console.log(`  ${line}`),
  });
} catch (error) {
  if (error instanceof ScaffoldRefusal) fail(`${error.message}. Nothing was written.`);
  fail(`${(error as Error).message}\nEvery file was put back as it was.`, 1);
}

const { names, port, created, changed } = result;
console.log(
  `\n✓ services/${names.name}: port ${port}, /api/${names.resource}${db ? ", its own database" : ", in memory (--no-db)"}`,
);
console.log("\nCreated:");
for (const path of created) console.log(`  ${path}`);
console.log("\nChanged:");
for (const path of changed) console.log(`  ${path}`);
const schema = db ? `, src/db/schema.ts (then \`bunx drizzle-kit generate\` in services/${names.name})` : "";
const next = [
  `bun test services/${names.name}: its tests${db ? ", against Postgres at 127.0.0.1:5432" : ""}`,
  `write your domain: src/domain/${names.resource}.ts, src/routes/${names.resource}/routes.ts${schema}; \`bun run openapi\` after changing a route`,
  `bun run dev: starts it on :${port}; the gateway routes /api/${names.resource} to it at 0 %`,
  `bun run promote ${names.name} --to ${names.name}: takes it to 100 % step by step on its gate, loadtests/${names.name}.js`,
  `commit services/${names.name}, loadtests/${names.name}.js, openapi/, fig.yaml, compose.yaml and bun.lock`,
];
console.log("\nNext:");
for (const [i, step] of next.entries()) console.log(`  ${i + 1}. ${step}`);
console.log("\nSee docs/adding-a-service.md.");
