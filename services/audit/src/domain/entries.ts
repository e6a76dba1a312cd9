import { type AuditEntry, auditEntries, entryOf } from "@fig/audit";
import type { Database } from "@fig/db";
import { decodeCursor, encodeCursor } from "@fig/service";
import { and, desc, eq, gte, lt, type SQL } from "drizzle-orm";

export type EntryFilters = {
  actor?: string | undefined;
  route?: string | undefined;
  kind?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  limit: number;
  cursor?: string | undefined;
};

export type EntryPage = { items: AuditEntry[]; nextCursor: string | null };

const isCursor = (v: unknown): v is { before: number } =>
  typeof (v as { before?: unknown })?.before === "number";

/**
 * The log's entries, newest first, filtered by actor (`sub`), route (the entry's subject), kind and time
 * (`from` inclusive, `to` exclusive). The cursor is the last seq served, so pages hold while entries arrive.
 */
export async function listEntries(db: Database, filters: EntryFilters): Promise<EntryPage> {
  const where: SQL[] = [];
  if (filters.actor) where.push(eq(auditEntries.actor_sub, filters.actor));
  if (filters.route) where.push(eq(auditEntries.subject, filters.route));
  if (filters.kind) where.push(eq(auditEntries.kind, filters.kind));
  if (filters.from) where.push(gte(auditEntries.at, new Date(filters.from)));
  if (filters.to) where.push(lt(auditEntries.at, new Date(filters.to)));
  if (filters.cursor) where.push(lt(auditEntries.seq, decodeCursor(filters.cursor, isCursor).before));
  const rows = await db
    .select()
    .from(auditEntries)
    .where(and(...where))
    .orderBy(desc(auditEntries.seq))
    .limit(filters.limit + 1);
  const items = rows.slice(0, filters.limit).map(entryOf);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > filters.limit && last ? encodeCursor({ before: last.seq }) : null,
  };
}
