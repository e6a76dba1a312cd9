/**
 * The contract between the billing package and its users (the validation worker, later the monolith).
 * Field names are the canonical (English, snake_case) names; the CSV headers are the French export names
 * (see README.md), matched tolerantly (case, accents, BOM, spacing).
 */

export type Severity = "error" | "warning" | "info";

/** One line of a RAMQ-style physician billing export, after parsing. */
export type ClaimRecord = {
  invoice_number: string;
  line_number: number;
  /** NAM: 4 letters + 8 digits (e.g. TREM85062512): letters from the name, then YYMMDD (+50 on the month for women), then 2 digits. */
  patient_nam: string;
  patient_birth_date: string; // YYYY-MM-DD
  physician_number: string; // 7 digits (1 + 6)
  establishment_number: string; // 5 digits
  service_date: string; // YYYY-MM-DD
  billing_code: string; // 5 digits
  context_codes: string[];
  units: number;
  amount_cents: number;
  diagnosis_code: string | null;
  referring_physician: string | null;
  start_time: string | null; // HH:MM
  end_time: string | null; // HH:MM
  submission_date: string; // YYYY-MM-DD
};

/** A problem found on a line (or, with line 0, in the file as a whole). */
export type Finding = {
  line: number;
  ruleId: string;
  severity: Severity;
  /** Canonical column name, or null for the whole line. */
  column: string | null;
  message: string;
};

/** What the parser yields for each data line: a record when the line is usable, and any findings. */
export type ParsedLine = { line: number; record: ClaimRecord | null; findings: Finding[] };

export type CodeRef = {
  code: string;
  tariff_cents: number;
  place_of_service: "cabinet" | "etablissement" | "both";
  requires_context: boolean;
  max_per_day: number | null;
  effective_from: string;
  effective_to: string | null;
  active: boolean;
};
export type ContextRef = { code: string; active: boolean };
export type EstablishmentRef = { number: string; type: string; region: string; active: boolean };
export type RuleConfig = {
  id: string;
  severity: Severity;
  enabled: boolean;
  params: Record<string, unknown>;
};

/** Reference data as the rules see it: an in-memory snapshot of reference-data's tables. */
export type ReferenceSnapshot = {
  codes: Map<string, CodeRef>;
  contexts: Map<string, ContextRef>;
  establishments: Map<string, EstablishmentRef>;
  rules: Map<string, RuleConfig>;
};
