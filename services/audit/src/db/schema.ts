// The log's tables are @fig/audit's (verify reads them too); drizzle-kit generates this service's migrations from them.
export { auditEntries, auditHead } from "@fig/audit/schema";
