import { parse } from "csv-parse/sync";
import { z } from "zod";
import type { CodeRef, ContextRef, EstablishmentRef, ReferenceSnapshot, RuleConfig } from "./types.ts";

/**
 * Indexes reference rows by their keys, as the rules look them up.
 *
 * @example
 * const snapshot = createReferenceSnapshot({ codes, contexts, establishments, rules }); // rows from reference-data
 */
export function createReferenceSnapshot(rows: {
  codes: CodeRef[];
  contexts: ContextRef[];
  establishments: EstablishmentRef[];
  rules: RuleConfig[];
}): ReferenceSnapshot {
  return {
    codes: new Map(rows.codes.map((r) => [r.code, r])),
    contexts: new Map(rows.contexts.map((r) => [r.code, r])),
    establishments: new Map(rows.establishments.map((r) => [r.number, r])),
    rules: new Map(rows.rules.map((r) => [r.id, r])),
  };
}

const bool = z.enum(["true", "false"]).transform((v) => v === "true");
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === "" ? null : v), schema.nullable()) as unknown as z.ZodType<z.output<T> | null>;

const codeRow = z.object({
  code: z.string(),
  tariff_cents: z.coerce.number().int(),
  place_of_service: z.enum(["cabinet", "etablissement", "both"]),
  requires_context: bool,
  max_per_day: optional(z.coerce.number().int().positive()),
  effective_from: date,
  effective_to: optional(date),
  active: bool,
});
const contextRow = z.object({ code: z.string(), active: bool });
const establishmentRow = z.object({ number: z.string(), type: z.string(), region: z.string(), active: bool });
const ruleRow = z.object({
  id: z.string(),
  severity: z.enum(["error", "warning", "info"]),
  enabled: bool,
  params: z.string().transform((v, ctx) => {
    try {
      return z.record(z.string(), z.unknown()).parse(JSON.parse(v === "" ? "{}" : v));
    } catch {
      ctx.addIssue({ code: "custom", message: `params ${JSON.stringify(v)} is not a JSON object` });
      return z.NEVER;
    }
  }),
});

function rowsOf<T>(name: string, csv: string, schema: z.ZodType<T>): T[] {
  const records = parse(csv, { columns: true, skip_empty_lines: true, bom: true }) as Record<
    string,
    string
  >[];
  return records.map((record, i) => {
    const parsed = schema.safeParse(record);
    if (parsed.success) return parsed.data;
    throw new Error(
      `${name} line ${i + 2}: ${parsed.error.issues.map((x) => `${x.path.join(".")}: ${x.message}`).join("; ")}`,
    );
  });
}

/**
 * Builds a snapshot from reference-data's seed CSVs (services/dash/reference-data/seed/*.csv): for tests, the
 * claims generator and benchmarks. Services get their snapshot from reference-data itself.
 *
 * @example
 * const read = (f: string) => Bun.file(`services/dash/reference-data/seed/${f}.csv`).text();
 * const snapshot = referenceSnapshotFromCsv({
 *   codes: await read("codes"), contexts: await read("contexts"),
 *   establishments: await read("establishments"), rules: await read("rules"),
 * });
 */
export function referenceSnapshotFromCsv(csv: {
  codes: string;
  contexts: string;
  establishments: string;
  rules: string;
}): ReferenceSnapshot {
  return createReferenceSnapshot({
    codes: rowsOf("codes.csv", csv.codes, codeRow),
    contexts: rowsOf("contexts.csv", csv.contexts, contextRow),
    establishments: rowsOf("establishments.csv", csv.establishments, establishmentRow),
    rules: rowsOf("rules.csv", csv.rules, ruleRow),
  });
}

/**
 * Reads the four seed CSVs (codes, contexts, establishments, rules) from a directory (Bun only).
 *
 * @example
 * const snapshot = await loadReferenceSnapshot("services/dash/reference-data/seed");
 */
export async function loadReferenceSnapshot(dir: string): Promise<ReferenceSnapshot> {
  const read = (name: string) => Bun.file(`${dir}/${name}.csv`).text();
  const [codes, contexts, establishments, rules] = await Promise.all(
    ["codes", "contexts", "establishments", "rules"].map(read),
  );
  return referenceSnapshotFromCsv({
    codes: codes as string,
    contexts: contexts as string,
    establishments: establishments as string,
    rules: rules as string,
  });
}
