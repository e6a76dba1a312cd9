import { referenceChangeRecorder } from "@fig/reference";

// Events of this service. Publishes: reference.changed (through the outbox, in the write's transaction),
// with the changed keys. Consumes: none.

/** Records `reference.changed` in the outbox of the write's transaction (the owner's subject, keys only). */
export const recordReferenceChanged = referenceChangeRecorder();
