import type { z } from "@hono/zod-openapi";
import type { SQL } from "drizzle-orm";
import type { PgColumn, PgTable } from "drizzle-orm/pg-core";

/** How a CSV cell becomes a value (and back, for export). */
export type ColumnKind = "text" | "int" | "bool" | "date" | "json";
export type CsvColumn = { name: string; kind: ColumnKind; nullable?: boolean };

export type Row = Record<string, unknown>;

/**
 * Everything that differs between the four reference tables. The store, the CSV import/export and the HTTP
 * routes are written once against this description.
 */
export type ResourceSpec = {
  /** URL segment and table name: `codes`. */
  resource: string;
  /** For operation ids and messages: `Code` → `getCode`, `Codes` → `listCodes`. */
  singular: string;
  plural: string;
  table: PgTable;
  /** The key column (also the CSV key and the path parameter). */
  keyColumn: PgColumn;
  key: string;
  /** Path parameter schema of the key. */
  keySchema: z.ZodString;
  /** The record as returned by the API. */
  record: z.ZodObject;
  /** POST body (and one CSV row once converted). */
  create: z.ZodObject;
  /** PATCH body: any subset of the non-key fields. */
  patch: z.ZodObject;
  /** CSV columns in file order: exactly the import and export format. */
  columns: CsvColumn[];
  /** Fields folded into `search_text` for `q`. */
  searchFields: string[];
  /** Query parameters beyond limit, cursor and q. */
  filters: z.ZodObject;
  /** Turns parsed filter values into where clauses. */
  filterWhere(filters: Record<string, unknown>): (SQL | undefined)[];
};

/** "Accès vasculaire" → "acces vasculaire": lower case, no diacritics, for accent-insensitive search. */
export function foldForSearch(text: string): string {
  return text
    .normalize("NFD")
    .replace(/\p{Diacritic}/gu, "")
    .toLowerCase();
}

export function searchTextOf(spec: ResourceSpec, row: Row): string {
  return foldForSearch(spec.searchFields.map((f) => String(row[f] ?? "")).join(" "));
}
