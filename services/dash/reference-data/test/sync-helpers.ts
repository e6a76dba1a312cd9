import { fileURLToPath } from "node:url";
import { DEFAULT_ROUTES_FILE, readDataRoute, verifySides } from "@fig/datasync";
import type { Database } from "@fig/db";

export const REFERENCE_MIGRATIONS = fileURLToPath(new URL("../drizzle", import.meta.url));
export const MONOLITH_MIGRATIONS = fileURLToPath(new URL("../../monolith/drizzle", import.meta.url));
export const SEED_DIR = fileURLToPath(new URL("../seed", import.meta.url));

/** A unique FIG_NAMESPACE for one test file (subjects, streams and the gateway's KV bucket). */
export const uniqueNamespace = (label: string) =>
  `${label}${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;

/** Polls `probe` until it returns a value other than undefined, or fails naming `what` at the deadline. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  deadlineMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await Bun.sleep(50);
  }
}

/** Route reference-data's data declaration in the repository's fig.yaml: the four reference tables. */
export const REFERENCE_ROUTE = readDataRoute(DEFAULT_ROUTES_FILE, "reference-data");

/** Every reference table's (count, checksum) on both sides, and the first differing keys when not equal. */
export async function compareSides(owner: Database, candidate: Database) {
  const verify = await verifySides({
    owner: { name: "owner", db: owner },
    candidate: { name: "candidate", db: candidate },
    tables: REFERENCE_ROUTE.tables,
    maxDifferences: 5,
  });
  const tables = verify.tables.map(({ differences, ...t }) => ({ ...t, diff: differences }));
  return { equal: verify.ok, tables };
}

/** Resolves once both sides are equal (the sync has caught up), else fails with the differences. */
export async function converged(owner: Database, candidate: Database, deadlineMs = 60_000) {
  let last: Awaited<ReturnType<typeof compareSides>> | undefined;
  try {
    return await until(
      "both sides to converge",
      async () => {
        last = await compareSides(owner, candidate);
        return last.equal ? last : undefined;
      },
      deadlineMs,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}: ${JSON.stringify(last?.tables.filter((t) => !t.equal))}`);
  }
}
