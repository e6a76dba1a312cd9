import { type Database, rowsOf } from "@fig/db";
import { type EventType, type NatsClient, streamNames } from "@fig/events";
import { sql } from "drizzle-orm";
import { followerBacklog } from "./status.ts";

/** Whether `table` exists in the database's search path (to_regclass is null for a missing relation). */
export async function hasTable(db: Database, table: string): Promise<boolean> {
  const [row] = rowsOf<{ found: string | null }>(
    await db.execute(sql`select to_regclass(${table})::text as found`),
  );
  return Boolean(row?.found);
}

/** How a side gets the live sync's watermark table: the scaffold's schema has it; others add it the same way. */
export const SYNC_KEYS_HOW_TO =
  'add `export { syncKeys } from "@fig/datasync/tables";` to the service\'s db/schema.ts (with @fig/datasync in ' +
  "its package.json) and generate a migration (drizzle-kit generate), or create the table with the DDL in " +
  "docs/data-migration.md";

/** Refuses a backfill into a side without `sync_keys` before any row is written, with what to do about it. */
export async function requireSyncKeys(side: { name: string; db: Database }): Promise<void> {
  if (await hasTable(side.db, "sync_keys")) return;
  throw new Error(
    `${side.name}'s database has no sync_keys table (the live sync's per-key watermarks, which backfill ` +
      `consults and writes beside each row): ${SYNC_KEYS_HOW_TO}`,
  );
}

/**
 * What a flip needs before it holds any write: the old owner's outbox (the drain waits for it to be published),
 * the follower consumer that applies those events on the new side, and the new side's sync_keys and inbox.
 * Each missing piece is one sentence naming it and what provides it; an empty list means the flip can run.
 */
export async function flipPrerequisites(o: {
  route: string;
  owner: { name: string; db: Database };
  candidate: { name: string; db: Database };
  followers: Record<string, string>;
  event?: EventType;
  nats: NatsClient;
  namespace: string;
}): Promise<string[]> {
  const event = o.event ?? "data.changed";
  const missing: string[] = [];
  if (!(await hasTable(o.owner.db, "outbox")))
    missing.push(
      `${o.owner.name}'s database has no outbox table: the flip waits until every ${event} event the owner ` +
        "committed is published, so the owner must write one in each write's transaction and something must " +
        `publish them (a Fig service's outbox relay; for another app: bun run migrate-data relay ${o.route}, ` +
        'docs/data-migration.md "An app that is not a Fig service")',
    );
  const follower = o.followers[o.owner.name] as string;
  if (!(await followerBacklog(o.nats, o.namespace, follower)).exists)
    missing.push(
      `no follower: the JetStream consumer ${follower} on ${streamNames(o.namespace).events} (it applies ` +
        `${o.owner.name}'s ${event} events to ${o.candidate.name}) does not exist; run ${o.candidate.name} with ` +
        `its data sync (createFollowerSync from @fig/datasync, origin ${o.owner.name}, route ${o.route}) so it is created`,
    );
  if (!(await hasTable(o.candidate.db, "sync_keys")))
    missing.push(`${o.candidate.name}'s database has no sync_keys table: ${SYNC_KEYS_HOW_TO}`);
  if (!(await hasTable(o.candidate.db, "inbox")))
    missing.push(
      `${o.candidate.name}'s database has no inbox table (the follower records each applied event id there): ` +
        'export { inbox } from "@fig/events" in its db/schema.ts and generate a migration',
    );
  return missing;
}
