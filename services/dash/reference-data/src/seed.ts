/**
 * `bun run seed`: loads the synthetic sample in seed/*.csv through the import path.
 * When the service answers at SEED_URL it imports over HTTP (a running dev server owns the embedded
 * database, which one process at a time may open); otherwise it opens the database itself.
 * Needs no variables outside production: the token is signed with the same dev default secret as
 * `bun run dev` gives its services (devScriptEnv).
 */
import { join } from "node:path";
import { importCsv, REFERENCE_SPECS, type ResourceSpec } from "@dash/reference";
import { devScriptEnv, mintDevToken, resolveDevSecret } from "@fig/auth";
import { databaseOptions, openMigratedDatabase } from "@fig/db";
import { ConfigError, createLogger } from "@fig/service";
import { SERVICE } from "./app.ts";
import { type Config, loadConfig } from "./config.ts";
import { recordReferenceChanged } from "./events.ts";

const specs = REFERENCE_SPECS;
const seedDir = join(import.meta.dir, "..", "seed");

async function serviceAnswers(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function seedOverHttp(config: Config) {
  const token = await mintDevToken({
    secret: resolveDevSecret(config.auth),
    sub: "seed",
    tenant: "fig",
    roles: ["editor"],
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    ttl: "5m",
  });
  for (const spec of specs) {
    const res = await fetch(`${config.SEED_URL}/api/${spec.resource}/import`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "text/csv" },
      body: Bun.file(join(seedDir, `${spec.resource}.csv`)),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(`${spec.resource}: ${res.status} ${JSON.stringify(body, null, 2)}`);
    report(spec, body);
  }
}

async function seedDatabase(config: Config) {
  const logger = createLogger({ service: SERVICE.name, level: "warn", pretty: config.LOG_PRETTY });
  const database = await openMigratedDatabase({
    service: SERVICE.name,
    ...databaseOptions(config),
    migrationsFolder: join(import.meta.dir, "..", "drizzle"),
    logger,
  });
  try {
    for (const spec of specs) {
      const file = Bun.file(join(seedDir, `${spec.resource}.csv`));
      report(
        spec,
        await importCsv(database.db, spec, file.stream(), { recordChange: recordReferenceChanged }),
      );
    }
  } finally {
    await database.close();
  }
}

function report(
  spec: ResourceSpec,
  r: { rows: number; inserted: number; updated: number; unchanged: number },
) {
  console.log(
    `✓ ${spec.resource.padEnd(15)} ${r.rows} rows: ${r.inserted} inserted, ${r.updated} updated, ${r.unchanged} unchanged`,
  );
}

try {
  // From a plain terminal too: outside production, the dev secret `bun run dev` gives its services.
  const config = loadConfig(devScriptEnv());
  if (await serviceAnswers(config.SEED_URL)) {
    console.log(`Seeding through the running service at ${config.SEED_URL}`);
    await seedOverHttp(config);
  } else {
    console.log(
      `No service at ${config.SEED_URL}; seeding the database directly (${config.DATABASE_URL ? "DATABASE_URL" : `embedded, ${config.DATA_DIR}`})`,
    );
    await seedDatabase(config);
  }
} catch (error) {
  console.error(`seed failed: ${error instanceof ConfigError ? error.message : (error as Error).message}`);
  process.exit(1);
}
