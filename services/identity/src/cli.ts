/**
 * `bun run identity rotate-keys`: promotes the next signing key to current, retires the old current (published
 * until its tokens expire) and publishes a new next. Uses the service's database (DATABASE_URL, or the dev
 * runner's embedded one) and IDENTITY_KEY_ENCRYPTION_KEY.
 */
import { devScriptEnv } from "@fig/auth";
import { createDatabase, readDevDatabases } from "@fig/db";
import { loadConfig } from "./config.ts";
import { createKeyCipher, rotateSigningKeys } from "./domain/keys.ts";

const USAGE = "usage: bun run identity rotate-keys";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--help" || command === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (command !== "rotate-keys" || rest.length > 0) {
    console.error(USAGE);
    return 2;
  }
  // A dev script: from a plain terminal the dev secret is defaulted, as for `bun run token`.
  const config = loadConfig(devScriptEnv());
  const url = config.DATABASE_URL ?? readDevDatabases(config.DATA_DIR)?.databases.identity;
  if (!url) {
    console.error(
      "✗ no database: set DATABASE_URL (or start `bun run dev`, whose identity database is found by name)",
    );
    return 1;
  }
  const handle = await createDatabase({ service: "identity", url });
  try {
    const rotation = await rotateSigningKeys(
      handle.db,
      await createKeyCipher(config.IDENTITY_KEY_ENCRYPTION_KEY),
    );
    console.log(
      `✓ current ${rotation.current}\n  next    ${rotation.next}\n  retired ${rotation.retired ?? "(none)"}`,
    );
    return 0;
  } finally {
    await handle.close();
  }
}

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
