import type { ClaimRecord } from "./types.ts";

export type ColumnName = keyof ClaimRecord;
export type ColumnKind = "text" | "int" | "date" | "amount" | "list" | "time" | "nam";

/** One column of the export: canonical name, French header as exported, and how its cells read. */
export type ClaimColumn = {
  name: ColumnName;
  header: string;
  kind: ColumnKind;
  /** A file without this column is unusable; a line with this cell empty is malformed. */
  required: boolean;
  /** Other headers seen in the wild for the same column. */
  aliases?: string[];
};

/** The columns of the export, in the order we write them (reading accepts any order). */
export const CLAIM_COLUMNS: readonly ClaimColumn[] = [
  { name: "invoice_number", header: "No facture", kind: "text", required: true },
  { name: "line_number", header: "No ligne", kind: "int", required: true },
  {
    name: "patient_nam",
    header: "NAM",
    kind: "nam",
    required: true,
    aliases: ["No assurance maladie"],
  },
  { name: "patient_birth_date", header: "Date de naissance", kind: "date", required: true },
  {
    name: "physician_number",
    header: "No professionnel",
    kind: "text",
    required: true,
    aliases: ["No médecin"],
  },
  { name: "establishment_number", header: "No établissement", kind: "text", required: true },
  { name: "service_date", header: "Date de service", kind: "date", required: true },
  {
    name: "billing_code",
    header: "Code de facturation",
    kind: "text",
    required: true,
    aliases: ["Code acte"],
  },
  {
    name: "context_codes",
    header: "Éléments de contexte",
    kind: "list",
    required: false,
    aliases: ["Contexte"],
  },
  { name: "units", header: "Unités", kind: "int", required: false },
  { name: "amount_cents", header: "Montant réclamé", kind: "amount", required: true, aliases: ["Montant"] },
  {
    name: "diagnosis_code",
    header: "Code diagnostic",
    kind: "text",
    required: false,
    aliases: ["Diagnostic"],
  },
  { name: "referring_physician", header: "Médecin référent", kind: "text", required: false },
  { name: "start_time", header: "Heure début", kind: "time", required: false },
  { name: "end_time", header: "Heure fin", kind: "time", required: false },
  { name: "submission_date", header: "Date de transmission", kind: "date", required: true },
];

const STOP_WORDS = new Set(["de", "du", "des", "d", "la", "le", "l"]);
const NUMBER_WORDS = new Set(["n", "no", "num", "numero"]);

/**
 * Reduces a header to a comparison key: no BOM, accents, case, punctuation, articles or plural "s".
 *
 * @example
 * headerKey("N° de facture") === headerKey("NO_FACTURE"); // both "nofacture"
 */
export function headerKey(header: string): string {
  return header
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word !== "" && !STOP_WORDS.has(word))
    .map((word) => (NUMBER_WORDS.has(word) ? "no" : word.length > 3 ? word.replace(/s$/, "") : word))
    .join("");
}

const COLUMN_BY_KEY = new Map<string, ClaimColumn>();
for (const column of CLAIM_COLUMNS) {
  for (const header of [column.header, column.name, ...(column.aliases ?? [])]) {
    COLUMN_BY_KEY.set(headerKey(header), column);
  }
}

/**
 * The column a header names, or undefined for a column we do not know (ignored).
 *
 * @example
 * columnForHeader("MONTANT RECLAME")?.name; // "amount_cents"
 */
export function columnForHeader(header: string): ClaimColumn | undefined {
  return COLUMN_BY_KEY.get(headerKey(header));
}
