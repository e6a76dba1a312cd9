import { createHash } from "node:crypto";
import type { EventData } from "@fig/events";

/** The kinds Fig records; the log takes any `kind` matching the catalog's pattern, these are the known ones. */
export const AUDIT_KINDS = [
  "weights",
  "state",
  "write-owner",
  "write-hold",
  "shadow",
  "promotion-step",
  "promotion-end",
  "promotion-command",
  "flip",
  "dlq-replay",
  "fault",
  "identity.login",
  "identity.login-failed",
  "identity.key-rotated",
  "identity.revoked",
  "identity.user-changed",
] as const;

export type AuditKind = (typeof AUDIT_KINDS)[number];

/** What a producer records: the `audit.recorded` event's data. */
export type AuditRecord = EventData<"audit.recorded">;

/** A record as it travels: its event id (the Nats-Msg-Id, the dedupe key) and its data. */
export type AuditSubmission = { eventId: string; record: AuditRecord };

/** An entry of the chain: the record, its place (`seq`), the previous entry's hash and its own. */
export type AuditEntry = AuditRecord & { seq: number; eventId: string; prevHash: string; hash: string };

/** The hash the first entry points back to. */
export const GENESIS_HASH = "0".repeat(64);

/**
 * JSON with object keys sorted at every depth and `undefined` as null: the same value always gives the same
 * text, whatever order its keys were written or read back from jsonb in.
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined || value === null) return "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value as object).sort();
    const parts = keys.map(
      (key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`,
    );
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A record as the chain stores and hashes it: `at` to millisecond UTC ISO, absent values null. */
export function normalizeRecord(record: AuditRecord): AuditRecord {
  return {
    at: new Date(record.at).toISOString(),
    actor: { sub: record.actor.sub, tenant: record.actor.tenant ?? null },
    kind: record.kind,
    subject: record.subject ?? null,
    from: record.from ?? null,
    to: record.to ?? null,
    reason: record.reason ?? null,
    data: record.data ?? null,
  };
}

/**
 * The fields an entry's hash covers: the event id and the record. Not `seq`: the order is carried by the links
 * (each hash covers the one before), so a moved entry still hashes right and shows as a broken link instead.
 */
export function hashedFields(entry: Omit<AuditEntry, "seq" | "prevHash" | "hash">) {
  const { eventId, at, actor, kind, subject, from, to, reason, data } = entry;
  return { eventId, ...normalizeRecord({ at, actor, kind, subject, from, to, reason, data }) };
}

/**
 * sha256(prevHash ‖ canonical JSON of the entry), hex. Changing any field, the order or a link changes it.
 *
 * @example
 * entryHash(GENESIS_HASH, { eventId: "e1", ...record });
 */
export function entryHash(prevHash: string, entry: Omit<AuditEntry, "seq" | "prevHash" | "hash">): string {
  return createHash("sha256")
    .update(prevHash)
    .update(canonicalJson(hashedFields(entry)))
    .digest("hex");
}
