// Events leave through the transactional outbox (packages/events); its table lives in this database.
// The reference tables are declared once in @fig/reference (the monolith keeps the same ones).
export { outbox } from "@fig/events";
export { codes, contexts, establishments, rules } from "@fig/reference/tables";
