import { CHANGE_EVENT_MAX_KEYS, changeEventSchema, defineEvent, registerEvents } from "@fig/events";
import { z } from "zod";

// Dash's reference-data event, declared here (Dash's code) and added to Fig's catalog when this module loads:
// every module that records, follows or consumes it imports this one.

/** Above this many keys, `reference.changed` carries a count instead of every key. */
export const REFERENCE_CHANGED_MAX_KEYS = CHANGE_EVENT_MAX_KEYS;

export const referenceEventCatalog = {
  "reference.changed": defineEvent({
    type: "reference.changed",
    version: 1,
    source: "reference-data",
    alsoPublishedBy: ["monolith"],
    tenantOwned: false,
    description:
      "Reference data changed: one event per write, and one per import. `keys` lists the changed keys, " +
      `or is empty with \`truncated: true\` when an import touched more than ${REFERENCE_CHANGED_MAX_KEYS}; \`count\` is always the number of rows. ` +
      "The monolith publishes it too (source `monolith`, on its own subject). Both publishers send `rows`: the changed rows' fields " +
      "with their `version` and `updated_at`, enough to apply the change elsewhere without calling back, and `sequence`, " +
      "which grows with every change of a key in commit order (per publisher), so a replica applies each key's changes in order. " +
      "Older events may lack `rows` and `sequence`: a consumer then re-reads the table, as for `truncated`.",
    schema: changeEventSchema(
      z.enum(["codes", "contexts", "establishments", "rules"]).describe("The reference table"),
    ),
  }),
} as const;

registerEvents(referenceEventCatalog);

declare module "@fig/events/catalog" {
  interface EventRegistry {
    "reference.changed": (typeof referenceEventCatalog)["reference.changed"];
  }
}
