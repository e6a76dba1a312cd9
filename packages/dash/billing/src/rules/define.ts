import type { z } from "zod";
import type { ColumnName } from "../columns.ts";
import type { ClaimRecord, ReferenceSnapshot, Severity } from "../types.ts";

/** What a rule found wrong with a record; the engine adds the line, rule id and configured severity. */
export type Violation = { column: ColumnName | null; message: string };

/**
 * What a rule sees besides the record: the reference snapshot, its validated params, today's date, and how many
 * keys a file rule may hold in memory before it spills to disk (undefined: the rule's default).
 */
export type RuleContext<P> = {
  reference: ReferenceSnapshot;
  params: P;
  today: string;
  maxKeysInMemory?: number;
};

type RuleBase<P> = {
  /** Matches `rules.id` in reference-data, which switches the rule on and sets its severity and params. */
  id: string;
  category: string;
  /** Used only by tools that list rules: the engine takes the severity from the reference snapshot. */
  severity: Severity;
  /** Validates the snapshot's params and fills in defaults. */
  params: z.ZodType<P>;
};

/** A pure check of one record against the reference data. */
export type RowRule<P = unknown> = RuleBase<P> & {
  scope: "row";
  check(record: ClaimRecord, context: RuleContext<P>): Violation | null;
};

/** A check across the lines of one file; `start` is called once per file and holds that file's state. */
export type FileRule<P = unknown> = RuleBase<P> & {
  scope: "file";
  start(context: RuleContext<P>): FileRuleState;
};

export type FileRuleState = {
  check(line: number, record: ClaimRecord): Violation | null;
  /** Findings that can only be known at the end of the file. */
  finish?(): (Violation & { line: number })[];
  /** Frees what the state holds outside the heap (a spill file); may be called more than once. */
  close?(): void;
};

export type RuleDefinition<P = unknown> = RowRule<P> | FileRule<P>;

/**
 * Declares a rule, inferring its params type from the zod schema.
 *
 * @example
 * const tooOld = defineRule({
 *   id: "service-too-old", category: "date", severity: "error", scope: "row",
 *   params: z.object({ maxDays: z.number().int().positive().default(90) }),
 *   check: (record, { params }) => (age(record) > params.maxDays ? { column: "service_date", message: "…" } : null),
 * });
 */
export function defineRule<P>(rule: RuleDefinition<P>): RuleDefinition<P> {
  return rule;
}

/** "$86.50", "-$12.00": cents as dollars for messages. */
export function dollars(cents: number): string {
  const abs = Math.abs(cents);
  return `${cents < 0 ? "-" : ""}$${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}
