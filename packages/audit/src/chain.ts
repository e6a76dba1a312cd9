import type { Database } from "@fig/db";
import { asc, eq, gt, inArray } from "drizzle-orm";
import { type AuditEntry, type AuditSubmission, entryHash, GENESIS_HASH, normalizeRecord } from "./entry.ts";
import { auditEntries, auditHead } from "./schema.ts";

export type AppendResult = { appended: AuditEntry[]; duplicates: string[] };

/**
 * Appends submissions to the chain in order, in one transaction: locks the head row, skips event ids the log
 * already has (a redelivery), links each new entry to the one before and moves the head. Concurrent appends
 * wait on the head row's lock, so the chain stays one line.
 *
 * @example
 * await appendEntries(db, [{ eventId: crypto.randomUUID(), record }]);
 */
export async function appendEntries(db: Database, submissions: AuditSubmission[]): Promise<AppendResult> {
  if (submissions.length === 0) return { appended: [], duplicates: [] };
  return db.transaction(async (tx) => {
    const [head] = await tx.select().from(auditHead).where(eq(auditHead.id, 1)).for("update");
    let seq = head?.seq ?? 0;
    let prevHash = head?.hash ?? GENESIS_HASH;
    const ids = submissions.map((s) => s.eventId);
    const known = new Set(
      (
        await tx
          .select({ id: auditEntries.event_id })
          .from(auditEntries)
          .where(inArray(auditEntries.event_id, ids))
      ).map((r) => r.id),
    );
    const appended: AuditEntry[] = [];
    const duplicates: string[] = [];
    for (const { eventId, record } of submissions) {
      if (known.has(eventId)) {
        duplicates.push(eventId);
        continue;
      }
      known.add(eventId);
      seq += 1;
      const body = { seq, eventId, ...normalizeRecord(record) };
      const hash = entryHash(prevHash, body);
      appended.push({ ...body, prevHash, hash });
      prevHash = hash;
    }
    if (appended.length === 0) return { appended, duplicates };
    await tx.insert(auditEntries).values(appended.map(toRow));
    await tx
      .insert(auditHead)
      .values({ id: 1, seq, hash: prevHash })
      .onConflictDoUpdate({ target: auditHead.id, set: { seq, hash: prevHash } });
    return { appended, duplicates };
  });
}

type Row = typeof auditEntries.$inferSelect;

function toRow(entry: AuditEntry) {
  return {
    seq: entry.seq,
    event_id: entry.eventId,
    at: new Date(entry.at),
    actor_sub: entry.actor.sub,
    actor_tenant: entry.actor.tenant,
    kind: entry.kind,
    subject: entry.subject,
    from_value: entry.from,
    to_value: entry.to,
    reason: entry.reason,
    data: entry.data,
    prev_hash: entry.prevHash,
    hash: entry.hash,
  };
}

/** A stored row as an entry (the shape the read API returns and verify hashes). */
export function entryOf(row: Row): AuditEntry {
  return {
    seq: row.seq,
    eventId: row.event_id,
    at: row.at.toISOString(),
    actor: { sub: row.actor_sub, tenant: row.actor_tenant },
    kind: row.kind,
    subject: row.subject,
    from: row.from_value ?? null,
    to: row.to_value ?? null,
    reason: row.reason,
    data: (row.data as Record<string, unknown> | null) ?? null,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** The chain as stored, in seq order, read in pages so a long log is not held in memory at once. */
export async function* readChain(db: Database, pageSize = 1000): AsyncGenerator<AuditEntry> {
  let after = 0;
  for (;;) {
    const rows = await db
      .select()
      .from(auditEntries)
      .where(gt(auditEntries.seq, after))
      .orderBy(asc(auditEntries.seq))
      .limit(pageSize);
    for (const row of rows) yield entryOf(row);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]?.seq ?? after;
  }
}

/** The chain source verify reads from a database: its entries, one entry by hash, and the head row. */
export function databaseChainSource(db: Database): ChainSource {
  return {
    entries: () => readChain(db),
    async byHash(hash) {
      const [row] = await db.select().from(auditEntries).where(eq(auditEntries.hash, hash)).limit(1);
      return row ? entryOf(row) : undefined;
    },
    async head() {
      const [row] = await db.select().from(auditHead).where(eq(auditHead.id, 1));
      return row ? { seq: row.seq, hash: row.hash } : undefined;
    },
  };
}

export type ChainSource = {
  entries(): AsyncIterable<AuditEntry>;
  byHash(hash: string): Promise<AuditEntry | undefined>;
  head(): Promise<{ seq: number; hash: string } | undefined>;
};

export type VerifyResult =
  | { ok: true; count: number; headHash: string }
  | {
      ok: false;
      /** The first entry that does not check out (for `removed`, the first one missing). */
      seq: number;
      problem: "changed" | "removed" | "reordered";
      detail: string;
      /** Entries that checked out before it. */
      checked: number;
    };

/**
 * Recomputes the chain from the first entry and names the first one changed, removed or reordered: a gap in
 * `seq` is a removal; an entry whose hash does not match its fields was changed; a `prev_hash` that names
 * another stored entry than the one before means entries were moved, and one that names none means the entry
 * before was removed (the rest renumbered) or rewritten. The head row catches the newest entries removed.
 */
export async function verifyChain(source: ChainSource): Promise<VerifyResult> {
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let checked = 0;
  for await (const entry of source.entries()) {
    const fail = (seq: number, problem: "changed" | "removed" | "reordered", detail: string) =>
      ({ ok: false, seq, problem, detail, checked }) as const;
    if (entry.seq > expectedSeq) {
      const last = entry.seq - 1;
      const span = last === expectedSeq ? `entry ${expectedSeq} is` : `entries ${expectedSeq}–${last} are`;
      return fail(expectedSeq, "removed", `${span} missing (the next stored entry is ${entry.seq})`);
    }
    if (entryHash(entry.prevHash, entry) !== entry.hash)
      return fail(entry.seq, "changed", `entry ${entry.seq}'s fields no longer match its hash`);
    if (entry.prevHash !== prevHash) {
      const pointsTo = entry.prevHash === GENESIS_HASH ? { seq: 0 } : await source.byHash(entry.prevHash);
      if (pointsTo)
        return fail(
          entry.seq,
          "reordered",
          `entry ${entry.seq} was recorded after entry ${pointsTo.seq === 0 ? "none (it was the first)" : pointsTo.seq}, not after entry ${entry.seq - 1}`,
        );
      return fail(
        entry.seq,
        "removed",
        `entry ${entry.seq} was recorded after an entry that is no longer stored: one before it was removed (and the rest renumbered) or rewritten`,
      );
    }
    prevHash = entry.hash;
    expectedSeq = entry.seq + 1;
    checked += 1;
  }
  const head = await source.head();
  const lastSeq = expectedSeq - 1;
  if (head && head.seq > lastSeq) {
    return {
      ok: false,
      seq: lastSeq + 1,
      problem: "removed",
      detail: `entries ${lastSeq + 1}–${head.seq} are missing (the head says the log has ${head.seq})`,
      checked,
    };
  }
  if (head && (head.seq !== lastSeq || head.hash !== prevHash)) {
    return {
      ok: false,
      seq: lastSeq,
      problem: "changed",
      detail: `the head row (entry ${head.seq}) does not match the last entry ${lastSeq}`,
      checked,
    };
  }
  return { ok: true, count: checked, headHash: prevHash };
}
