import { type ReferenceSyncOptions, referenceEvents } from "@dash/reference/events";
import type { OwnerApi } from "@fig/datasync";

// Events of this service: reference data's, written once for both of its sides in @dash/reference/events.
// Publishes: reference.changed (through the outbox, in the write's transaction), with the changed keys and,
//   additively, the rows (version, updated_at) and a per-key sequence, so the monolith can follow it after the flip.
// Consumes: the monolith's reference.changed (source monolith, its own subject) while the monolith is the write
//   owner of route `reference-data` (gateway KV): the live sync applies the carried rows here.
const reference = referenceEvents("reference-data");

/** Records `reference.changed` in the outbox of the write's transaction (the owner's subject, keys and rows). */
export const recordReferenceChanged = reference.recordChange;

/** The live sync from the monolith, on while the monolith owns the route's writes. */
export function createMonolithSync({
  monolith,
  ...options
}: Omit<ReferenceSyncOptions, "owner"> & { monolith: OwnerApi }) {
  return reference.createSync({ ...options, owner: monolith });
}
