import { join } from "node:path";
import {
  type ClaimRecord,
  createReferenceSnapshot,
  loadReferenceSnapshot,
  type ParseClaimsOptions,
  type ParsedLine,
  parseClaims,
  type ReferenceSnapshot,
  type RuleConfig,
} from "../src/index.ts";

export const SEED_DIR = join(import.meta.dir, "../../../../services/dash/reference-data/seed");
export const seedReference = (): Promise<ReferenceSnapshot> => loadReferenceSnapshot(SEED_DIR);

/** A pull-based stream of `bytes` in `chunkSize` pieces; `pulls` counts the chunks handed out so far. */
export function byteStream(
  bytes: Uint8Array,
  chunkSize = 1 << 16,
): ReadableStream<Uint8Array> & { pulls: number } {
  let offset = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (offset >= bytes.length) return controller.close();
        controller.enqueue(bytes.slice(offset, offset + chunkSize));
        offset += chunkSize;
        counted.pulls++;
      },
    },
    { highWaterMark: 0 },
  );
  const counted = Object.assign(stream, { pulls: 0 });
  return counted;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Latin-1 bytes of `text` (every character must be ≤ U+00FF). */
export function latin1(text: string): Uint8Array {
  return Uint8Array.from(text, (ch) => {
    const code = ch.charCodeAt(0);
    if (code > 0xff) throw new Error(`not Latin-1: ${ch}`);
    return code;
  });
}

export async function parseAll(
  input: string | Uint8Array,
  options: ParseClaimsOptions & { chunkSize?: number } = {},
): Promise<ParsedLine[]> {
  const bytes = typeof input === "string" ? utf8(input) : input;
  const lines: ParsedLine[] = [];
  for await (const line of parseClaims(byteStream(bytes, options.chunkSize), options)) lines.push(line);
  return lines;
}

export const HEADER =
  "No facture,No ligne,NAM,Date de naissance,No professionnel,No établissement,Date de service," +
  "Code de facturation,Éléments de contexte,Unités,Montant réclamé,Code diagnostic,Médecin référent," +
  "Heure début,Heure fin,Date de transmission";

/** A clean CSV data line for HEADER; `cells` replace cells by index. */
export function dataLine(cells: Record<number, string> = {}): string {
  const base = [
    "1000001",
    "1",
    "TREM85062512",
    "1985-06-25",
    "1234567",
    "00683",
    "2025-05-20",
    "00103",
    "",
    "1",
    "62.90",
    "401",
    "",
    "09:00",
    "09:20",
    "2025-05-25",
  ];
  for (const [i, v] of Object.entries(cells)) base[Number(i)] = v;
  return base.join(",");
}

export const TODAY = "2025-06-01";

/** A record that breaks no rule against FIXTURE (see below). */
export function validRecord(overrides: Partial<ClaimRecord> = {}): ClaimRecord {
  return {
    invoice_number: "1000001",
    line_number: 1,
    patient_nam: "TREM85062512",
    patient_birth_date: "1985-06-25",
    physician_number: "1234567",
    establishment_number: "00683",
    service_date: "2025-05-20",
    billing_code: "00103",
    context_codes: [],
    units: 1,
    amount_cents: 6290,
    diagnosis_code: "401",
    referring_physician: null,
    start_time: "09:00",
    end_time: "09:20",
    submission_date: "2025-05-25",
    ...overrides,
  };
}

const code = (c: Partial<import("../src/index.ts").CodeRef> & { code: string }) => ({
  tariff_cents: 6290,
  place_of_service: "both" as const,
  requires_context: false,
  max_per_day: null,
  effective_from: "2015-01-01",
  effective_to: null,
  active: true,
  ...c,
});

export const RULE_IDS = [
  ["unknown-code", "error"],
  ["code-not-in-effect", "error"],
  ["unknown-establishment", "error"],
  ["inactive-establishment", "error"],
  ["place-of-service-mismatch", "error"],
  ["context-required", "error"],
  ["unknown-context", "error"],
  ["service-date-in-future", "error"],
  ["service-too-old", "error"],
  ["amount-not-positive", "error"],
  ["amount-above-tariff", "warning"],
  ["nam-invalid", "error"],
  ["duplicate-line", "warning"],
  ["max-per-day-exceeded", "error"],
] as const;

/** A small hand-made snapshot, so each rule test names the reference row it relies on. */
export function fixtureReference(rules: RuleConfig[] = defaultRules()): ReferenceSnapshot {
  return createReferenceSnapshot({
    codes: [
      code({ code: "00103" }),
      code({ code: "00133", place_of_service: "cabinet", tariff_cents: 10660, max_per_day: 2 }),
      code({ code: "06082", place_of_service: "etablissement", tariff_cents: 64550, max_per_day: 2 }),
      code({ code: "00570", requires_context: true, tariff_cents: 6535, effective_to: "2026-01-02" }),
      code({ code: "00975", active: false }),
      code({ code: "09000", effective_from: "2030-01-01" }),
      code({ code: "01396", effective_to: "2023-10-22" }),
    ],
    contexts: [
      { code: "AM", active: true },
      { code: "URG", active: true },
      { code: "1981", active: false },
    ],
    establishments: [
      { number: "01381", type: "cabinet", region: "16", active: true },
      { number: "00683", type: "CH", region: "06", active: true },
      { number: "02566", type: "GMF", region: "16", active: true },
      { number: "22784", type: "CH", region: "01", active: false },
    ],
    rules,
  });
}

export function defaultRules(): RuleConfig[] {
  return RULE_IDS.map(([id, severity]) => ({
    id,
    severity,
    enabled: true,
    params: id === "service-too-old" ? { maxDays: 90 } : {},
  }));
}
