import { referenceChangeRecorder } from "@fig/reference";

// Events of the monolith. Publishes: reference.changed (source `monolith`, its own subject
// `<ns>.events.reference.changed.monolith`) for every write of the legacy admin module, with the changed rows,
// so the data can follow traffic while routes move. Validations publish nothing (the legacy app never did).
// Consumes: none.

/** Records the monolith's `reference.changed` in the outbox of the write's transaction. */
export const recordMonolithReferenceChanged = referenceChangeRecorder({ source: "monolith", withRows: true });
