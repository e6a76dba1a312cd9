import { type ReferenceSyncOptions, referenceEvents } from "@dash/reference/events";
import type { OwnerApi } from "@fig/datasync";

// Events of the monolith: reference data's, written once for both of its sides in @dash/reference/events.
// Publishes: reference.changed (source `monolith`, its own subject `<ns>.events.reference.changed.monolith`) for
// every write of the legacy admin module, with the changed rows, so the data can follow traffic while routes
// move. Validations publish nothing (the legacy app never did).
// Consumes: reference-data's reference.changed once reference-data owns the writes of route `reference-data`
// (after the flip), so the monolith's remaining modules (its synchronous validation) keep current reference data.
const reference = referenceEvents("monolith");

/** Records the monolith's `reference.changed` in the outbox of the write's transaction. */
export const recordMonolithReferenceChanged = reference.recordChange;

/** The reverse live sync: reference-data → monolith, on while reference-data owns the route's writes. */
export function createReferenceDataSync({
  referenceData,
  ...options
}: Omit<ReferenceSyncOptions, "owner"> & { referenceData: OwnerApi }) {
  return reference.createSync({ ...options, owner: referenceData });
}
