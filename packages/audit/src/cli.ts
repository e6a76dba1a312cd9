/**
 * `bun run audit verify`: recomputes the audit log's hash chain from its database and names the first entry
 * changed, removed or reordered (exit 1); exit 0 with the count when every entry checks out; exit 2 when the
 * database cannot be found or read.
 */
import { createDatabase } from "@fig/db";
import { databaseChainSource, verifyChain } from "./chain.ts";
import { loadAuditCliConfig } from "./config.ts";

const usage = `usage: bun run audit verify

  Reads the audit service's database: AUDIT_DATABASE_URL, else the one \`bun run dev\` runs.`;

const [command, ...extra] = Bun.argv.slice(2);
if (command === "--help" || command === "-h") {
  console.log(usage);
  process.exit(0);
}
if (command !== "verify" || extra.length > 0) {
  console.error(`✗ unknown command ${JSON.stringify([command, ...extra].join(" "))}\n\n${usage}`);
  process.exit(2);
}

const config = loadAuditCliConfig();
if (!config.databaseUrl) {
  console.error("✗ no audit database: set AUDIT_DATABASE_URL, or start `bun run dev`");
  process.exit(2);
}
const database = await createDatabase({ service: "audit-verify", url: config.databaseUrl, poolMax: 1 });
try {
  const result = await verifyChain(databaseChainSource(database.db));
  if (result.ok) {
    console.log(
      `✓ audit chain intact: ${result.count} entries (head ${result.headHash.slice(0, 12)}…), from ${config.source}`,
    );
    process.exitCode = 0;
  } else {
    console.error(`✗ audit entry ${result.seq} ${result.problem}: ${result.detail}`);
    console.error(`  ${result.checked} entries before it check out; from ${config.source}`);
    process.exitCode = 1;
  }
} catch (error) {
  console.error(`✗ cannot read the audit log: ${(error as Error).message}`);
  process.exitCode = 2;
} finally {
  await database.close();
}
