import { join } from "node:path";
import { importCsv, REFERENCE_SPECS } from "@dash/reference";
import type { Database } from "@fig/db";
import { sql } from "drizzle-orm";
import { recordMonolithReferenceChanged } from "../../events.ts";

/**
 * Loads reference-data's seed (`<dir>/<resource>.csv`, the same files) into each reference table that is
 * still empty, through the same all-or-nothing import. Safe on every start: a table with rows is left alone.
 */
export async function seedEmptyReferenceTables(db: Database, dir: string): Promise<Record<string, number>> {
  const loaded: Record<string, number> = {};
  for (const spec of REFERENCE_SPECS) {
    const [any] = (await db.select({ one: sql<number>`1` }).from(spec.table).limit(1)) as unknown[];
    if (any) continue;
    const file = Bun.file(join(dir, `${spec.resource}.csv`));
    const result = await importCsv(db, spec, file.stream(), { recordChange: recordMonolithReferenceChanged });
    loaded[spec.resource] = result.inserted;
  }
  return loaded;
}
