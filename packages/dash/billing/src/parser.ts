import { CLAIM_COLUMNS, type ClaimColumn, type ColumnName, columnForHeader } from "./columns.ts";
import { type CsvDelimiter, CsvRecords, type CsvRow, detectDelimiter, firstLine } from "./csv.ts";
import { type ClaimsEncoding, decodeChunks } from "./decode.ts";
import { readAmountCents, readContextCodes, readDate, readNam, readTime, readUnits } from "./fields.ts";
import type { ClaimRecord, Finding, ParsedLine } from "./types.ts";

export type ParseClaimsOptions = {
  /** "auto" (default) detects UTF-8 vs Windows-1252 at the first non-ASCII byte. */
  encoding?: ClaimsEncoding | "auto";
  /** "auto" (default) picks the most frequent of `,` `;` and tab in the header line. */
  delimiter?: CsvDelimiter | "auto";
  /** A longer record (csv-parse's `max_record_size`) is reported as malformed and skipped to the next line break (default 1 MiB). */
  maxRecordChars?: number;
  /** Called once, before the first line is yielded, with how the header was read. */
  onHeader?: (header: ClaimsHeader) => void;
};

/** How the header line was understood: the delimiter, the column each cell maps to, the cells ignored. */
export type ClaimsHeader = { delimiter: CsvDelimiter; columns: (ColumnName | null)[]; ignored: string[] };

/** The header line cannot be used: required columns are missing, named twice, or there is no header at all. */
export class ClaimsHeaderError extends Error {
  override name = "ClaimsHeaderError";
  constructor(
    message: string,
    /** Canonical names of the required columns not found. */
    readonly missing: ColumnName[] = [],
    /** Canonical names of the columns found more than once. */
    readonly duplicated: ColumnName[] = [],
  ) {
    super(message);
  }
}

export const MALFORMED_LINE = "malformed-line";

/**
 * Streams a RAMQ-style billing export: one {@link ParsedLine} per data line, as the bytes arrive.
 * A broken line becomes `malformed-line` findings with `record: null`; only an unusable header throws.
 *
 * @example
 * for await (const { line, record, findings } of parseClaims(Bun.file("claims.csv").stream())) {
 *   if (record) console.log(line, record.billing_code, record.amount_cents);
 *   else console.log(line, findings.map((f) => f.message));
 * }
 * @throws {ClaimsHeaderError} when the header line is missing or lacks required columns.
 */
export async function* parseClaims(
  stream: ReadableStream<Uint8Array>,
  { encoding = "auto", delimiter = "auto", maxRecordChars = 1 << 20, onHeader }: ParseClaimsOptions = {},
): AsyncGenerator<ParsedLine> {
  const chunks = decodeChunks(stream, encoding);
  try {
    // Read up to the end of the header line (or the record limit) to see which delimiter it uses.
    let head = "";
    let headerLine: string | undefined;
    let ended = false;
    while (headerLine === undefined && head.length <= maxRecordChars) {
      const next = await chunks.next();
      if (next.done) {
        ended = true;
        break;
      }
      head += next.value;
      if (/[\r\n]/.test(next.value)) headerLine = firstLine(head);
    }
    const used = delimiter === "auto" ? detectDelimiter(headerLine ?? head) : delimiter;
    const records = new CsvRecords(used, maxRecordChars);
    let rows = await records.push(head);
    if (ended) rows.push(...(await records.end()));
    let reader: LineReader | undefined;
    for (;;) {
      for (const row of rows) {
        if (!reader) {
          reader = readHeader(row);
          onHeader?.({ delimiter: used, columns: reader.columns, ignored: reader.ignored });
        } else if (!row.fields.every((field) => field.trim() === "") || row.error) {
          yield reader.read(row);
        }
      }
      if (ended) break;
      const next = await chunks.next();
      if (next.done) {
        rows = await records.end();
        ended = true;
      } else {
        rows = await records.push(next.value);
      }
    }
    if (!reader) throw new ClaimsHeaderError("The file is empty: no header line.");
  } finally {
    await chunks.return(undefined);
  }
}

type Slot = { index: number; column: ClaimColumn; read: CellReader };
type LineReader = { columns: (ColumnName | null)[]; ignored: string[]; read(row: CsvRow): ParsedLine };

function readHeader(row: CsvRow): LineReader {
  if (row.error) throw new ClaimsHeaderError(`The header line cannot be read: ${row.error}.`);
  const cells = row.fields.map((cell, i) => (i === 0 ? cell.replace(/^\uFEFF/, "") : cell).trim());
  const slots: Slot[] = [];
  const columns: (ColumnName | null)[] = [];
  const ignored: string[] = [];
  const duplicated: ColumnName[] = [];
  cells.forEach((cell, index) => {
    const column = columnForHeader(cell);
    columns.push(column?.name ?? null);
    if (!column) ignored.push(cell);
    else if (slots.some((slot) => slot.column === column)) duplicated.push(column.name);
    else slots.push({ index, column, read: READERS[column.name] });
  });
  const missing = CLAIM_REQUIRED.filter((c) => !slots.some((slot) => slot.column === c));
  if (missing.length > 0 || duplicated.length > 0) {
    const problems = [
      missing.length > 0 &&
        `missing required column${missing.length > 1 ? "s" : ""} ${missing.map(describe).join(", ")}`,
      duplicated.length > 0 &&
        `column${duplicated.length > 1 ? "s" : ""} named twice: ${duplicated.join(", ")}`,
    ].filter(Boolean);
    throw new ClaimsHeaderError(
      `Unusable header: ${problems.join("; ")}. Found: ${cells.map((c) => JSON.stringify(c)).join(", ")}.`,
      missing.map((c) => c.name),
      duplicated,
    );
  }
  return { columns, ignored, read: (dataRow) => readLine(dataRow, slots, cells.length) };
}

const CLAIM_REQUIRED = CLAIM_COLUMNS.filter((c) => c.required);
const describe = (c: ClaimColumn) => `"${c.header}" (${c.name})`;

function malformed(line: number, column: ColumnName | null, message: string): Finding {
  return { line, ruleId: MALFORMED_LINE, severity: "error", column, message };
}

function readLine(row: CsvRow, slots: Slot[], width: number): ParsedLine {
  const { line, fields } = row;
  if (row.error)
    return { line, record: null, findings: [malformed(line, null, `Malformed CSV: ${row.error}.`)] };
  if (fields.length !== width) {
    const message = `Expected ${width} fields (as in the header), found ${fields.length}.`;
    return { line, record: null, findings: [malformed(line, null, message)] };
  }
  const record = emptyRecord();
  const findings: Finding[] = [];
  for (let i = 0; i < slots.length; i++) {
    const { index, column, read } = slots[i] as Slot;
    const raw = (fields[index] as string).trim();
    const expected = raw === "" ? (column.required ? "" : undefined) : read(record, raw);
    if (expected === undefined) continue;
    const message = expected === "" ? "is empty" : `is ${JSON.stringify(raw)}, expected ${expected}`;
    findings.push(malformed(line, column.name, `${describe(column)} ${message}.`));
  }
  return { line, record: findings.length > 0 ? null : record, findings };
}

/** Per column: store the cell's value in the record, or return what was expected instead. */
const READERS: { [K in ColumnName]: CellReader } = {
  invoice_number: (r, raw) => {
    r.invoice_number = raw;
  },
  line_number: (r, raw) => {
    const value = readUnits(raw);
    if (value === undefined) return WHOLE;
    r.line_number = value;
  },
  patient_nam: (r, raw) => {
    r.patient_nam = readNam(raw);
  },
  patient_birth_date: (r, raw) => {
    const value = readDate(raw);
    if (value === undefined) return DATE;
    r.patient_birth_date = value;
  },
  physician_number: (r, raw) => {
    r.physician_number = raw;
  },
  establishment_number: (r, raw) => {
    r.establishment_number = raw;
  },
  service_date: (r, raw) => {
    const value = readDate(raw);
    if (value === undefined) return DATE;
    r.service_date = value;
  },
  billing_code: (r, raw) => {
    r.billing_code = raw;
  },
  context_codes: (r, raw) => {
    r.context_codes = readContextCodes(raw);
  },
  units: (r, raw) => {
    const value = readUnits(raw);
    if (value === undefined) return WHOLE;
    r.units = value;
  },
  amount_cents: (r, raw) => {
    const value = readAmountCents(raw);
    if (value === undefined) return AMOUNT;
    r.amount_cents = value;
  },
  diagnosis_code: (r, raw) => {
    r.diagnosis_code = raw;
  },
  referring_physician: (r, raw) => {
    r.referring_physician = raw;
  },
  start_time: (r, raw) => {
    const value = readTime(raw);
    if (value === undefined) return TIME;
    r.start_time = value;
  },
  end_time: (r, raw) => {
    const value = readTime(raw);
    if (value === undefined) return TIME;
    r.end_time = value;
  },
  submission_date: (r, raw) => {
    const value = readDate(raw);
    if (value === undefined) return DATE;
    r.submission_date = value;
  },
};

type CellReader = (record: ClaimRecord, raw: string) => string | undefined;

const WHOLE = "a whole number ≥ 1";
const DATE = "a date YYYY-MM-DD";
const AMOUNT = 'an amount in dollars such as "86,50" or "86.50"';
const TIME = "a time HH:MM";

/** Every field present from the start, so all records share one shape; optional cells keep these defaults. */
function emptyRecord(): ClaimRecord {
  return {
    invoice_number: "",
    line_number: 0,
    patient_nam: "",
    patient_birth_date: "",
    physician_number: "",
    establishment_number: "",
    service_date: "",
    billing_code: "",
    context_codes: [],
    units: 1,
    amount_cents: 0,
    diagnosis_code: null,
    referring_physician: null,
    start_time: null,
    end_time: null,
    submission_date: "",
  };
}
