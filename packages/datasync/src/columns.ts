import type { CsvColumn, ResourceSpec } from "@fig/reference";

const pgType: Record<CsvColumn["kind"], string> = {
  text: "text",
  int: "int4",
  bool: "bool",
  date: "date",
  json: "jsonb",
};

/** A quoted SQL identifier. */
export const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Every stored column of a reference table with its SQL type: the API's columns and the bookkeeping. */
export function storedColumns(spec: ResourceSpec) {
  return [
    ...spec.columns.map((c) => ({ name: c.name, type: pgType[c.kind] })),
    { name: "version", type: "int4" },
    { name: "updated_at", type: "timestamptz" },
    { name: "search_text", type: "text" },
  ];
}
