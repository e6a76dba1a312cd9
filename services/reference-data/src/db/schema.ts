// The reference tables are declared once in @fig/reference (the monolith keeps the same ones).
export { codes, contexts, establishments, rules } from "@fig/reference/tables";

// Events leave through the transactional outbox (packages/events); its table lives in this database.
export { outbox } from "@fig/events";
