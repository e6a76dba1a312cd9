// Events leave through the transactional outbox (packages/events); its table lives in this database.
// The reference tables are declared once in @dash/reference (the monolith keeps the same ones).

export { codes, contexts, establishments, rules } from "@dash/reference/tables";
// The live sync's inbox (above) and per-key watermarks: changes of reference data applied from the write owner.
export { syncKeys } from "@fig/datasync/tables";
export { inbox, outbox } from "@fig/events";
