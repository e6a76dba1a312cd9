import { CLAIM_COLUMNS } from "./columns.ts";
import type { CsvDelimiter } from "./csv.ts";
import { dateOfDay, dayNumber, localToday } from "./fields.ts";
import { INJECTABLE_RULES, injectError } from "./generate-errors.ts";
import { encodeNam } from "./nam.ts";
import type { CodeRef, EstablishmentRef, ReferenceSnapshot } from "./types.ts";

export type GenerateClaimsOptions = {
  reference: ReferenceSnapshot;
  /** Data lines to write (the header comes on top). */
  rows: number;
  /** Share of lines that break exactly one rule (default 0.05). */
  errorRate?: number;
  seed?: number;
  /** "YYYY-MM-DD": the engine's `today` when checking the file (default: the local date). */
  today?: string;
  /** Default ";" (French exports; amounts then use a decimal comma, as with tab: Excel's "Unicode text"). */
  delimiter?: CsvDelimiter;
};

/** What checking the generated file must find: per rule id, exactly this many findings. */
export type ClaimsExpectation = {
  rows: number;
  seed: number;
  today: string;
  errorRate: number;
  /** Lines with an injected error; every other line has no finding at all. */
  errorRows: number;
  findings: Record<string, number>;
};

/** A generated line, before formatting. */
export type ClaimLine = {
  invoice: string;
  lineNo: number;
  nam: string;
  birth: string;
  physician: string;
  establishment: EstablishmentRef | { number: string; type: string };
  day: number;
  code: CodeRef | { code: string; tariff_cents: number };
  contexts: string[];
  units: number;
  amount: number;
  submission: string;
};

/** One patient's encounter with one physician: the lines of one invoice. */
export type Visit = {
  invoice: string;
  nam: string;
  birth: string;
  physician: string;
  establishment: EstablishmentRef;
  day: number;
  submission: string;
  lines: number;
  remaining: number;
  codesUsed: Set<string>;
  /** Valid lines a duplicate or a daily-maximum overrun may copy (each used at most once). */
  anchors: ClaimLine[];
};

/**
 * Synthetic claims consistent with a reference snapshot, as CSV text (header first, CRLF line ends).
 * Deterministic for a seed. Valid lines trigger no finding; each erroneous line breaks exactly one enabled
 * rule, rules taken in turn (an error that needs an earlier line of the invoice may land a few lines late). Holds one invoice at a time, so a million lines stream in constant memory.
 * The generator's return value says what the engine must find.
 *
 * @example
 * const lines = generateClaims({ reference, rows: 1000, seed: 7, today: "2025-06-01" });
 * let next = lines.next();
 * for (; !next.done; next = lines.next()) out.write(next.value);
 * console.log(next.value.findings); // { "unknown-code": 4, … }
 */
export function* generateClaims(options: GenerateClaimsOptions): Generator<string, ClaimsExpectation> {
  const { rows, errorRate = 0.05, seed = 1, today = localToday(), delimiter = ";" } = options;
  const world = createWorld(options.reference, seed, today);
  const rules = INJECTABLE_RULES.filter((id) => options.reference.rules.get(id)?.enabled);
  const findings: Record<string, number> = Object.fromEntries(rules.map((id) => [id, 0]));
  let turn = 0;
  let owed = 0; // errors drawn but not yet placed: a rule may need a line to copy that this visit lacks
  let misses = 0;
  let errorRows = 0;
  let visit: Visit | undefined;
  yield csvLine(
    CLAIM_COLUMNS.map((c) => c.header),
    delimiter,
  );
  for (let row = 0; row < rows; row++) {
    if (!visit || visit.remaining === 0) visit = world.newVisit();
    visit.remaining--;
    if (rules.length > 0 && world.rand() < errorRate) owed++;
    let line: ClaimLine | undefined;
    if (owed > 0) {
      const id = rules[turn % rules.length] as string;
      line = injectError(id, world, visit);
      if (line) {
        findings[id] = (findings[id] ?? 0) + 1;
        errorRows++;
        owed--;
      }
      // Rules take turns; one that cannot be broken with this reference data must not hold up the others.
      if (line || ++misses > 50) {
        turn++;
        misses = 0;
      }
    }
    line ??= world.validLine(visit);
    yield formatLine(line, delimiter, world);
  }
  return { rows, seed, today, errorRate, errorRows, findings };
}

export type World = ReturnType<typeof createWorld>;

/** The reference data indexed for generation, the seeded random source, and line builders. */
export function createWorld(reference: ReferenceSnapshot, seed: number, today: string) {
  const rand = mulberry32(seed);
  const int = (min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;
  const cabinetTypes = paramOf(reference, "place-of-service-mismatch", "cabinetTypes", ["cabinet"]);
  const maxDays = paramOf(reference, "service-too-old", "maxDays", 90);
  const todayDay = dayNumber(today);
  const isCabinet = (e: { type: string }) => cabinetTypes.includes(e.type);
  const fits = (code: CodeRef, cabinet: boolean) =>
    code.place_of_service === "both" || (code.place_of_service === "cabinet") === cabinet;
  const inEffect = (code: CodeRef, date: string) =>
    code.active && code.effective_from <= date && (code.effective_to === null || date <= code.effective_to);
  const codes = [...reference.codes.values()].filter((c) => c.tariff_cents > 0);
  const establishments = [...reference.establishments.values()];
  const activeEstablishments = establishments.filter((e) => e.active);
  const contexts = [...reference.contexts.values()].filter((c) => c.active).map((c) => c.code);
  const physicians = Array.from({ length: 300 }, () => `1${String(int(0, 999_999)).padStart(6, "0")}`);
  const validCodes = new Map<string, CodeRef[]>();
  let visits = 0;
  let invoices = int(1_000_000, 9_000_000) * 1000;

  /**
   * Codes billable on `day` at an establishment like `e`, not yet on the invoice, passing `filter`: often
   * just one, drawn at random (so pick from the result, never count it).
   */
  function codesFor(day: number, e: { type: string }, used: Set<string>, filter?: (c: CodeRef) => boolean) {
    const date = dateOfDay(day);
    const key = `${day}|${isCabinet(e)}`;
    let list = validCodes.get(key);
    if (!list) {
      list = codes.filter((c) => inEffect(c, date) && fits(c, isCabinet(e)));
      validCodes.set(key, list);
    }
    const usable = (c: CodeRef) => !used.has(c.code) && (!filter || filter(c));
    // Most draws succeed at once (an invoice uses a handful of codes): filter only when they keep failing.
    for (let tries = 0; tries < 8 && list.length > 0; tries++) {
      const code = list[Math.floor(rand() * list.length)] as CodeRef;
      if (usable(code)) return [code];
    }
    return list.filter(usable);
  }

  function newVisit(): Visit {
    const birth = dateOfDay(int(dayNumber("1930-01-01"), todayDay - 365));
    const submissionDay = todayDay - int(0, 3);
    const lines = pick([1, 1, 2, 2, 2, 3, 3, 4]);
    return {
      invoice: String(++invoices),
      ...patient(visits++, birth),
      birth,
      physician: pick(physicians),
      establishment: pick(activeEstablishments),
      day: submissionDay - int(0, maxDays),
      submission: dateOfDay(submissionDay),
      lines,
      remaining: lines,
      codesUsed: new Set(),
      anchors: [],
    };
  }

  /** Patient `n`'s NAM: letters and serial are a bijection of n, so no two visits share a patient. */
  function patient(n: number, birth: string): { nam: string } {
    const x = (n * 7919 + 12_345) % (26 ** 4 * 100);
    let letters = "";
    for (let v = Math.floor(x / 100), i = 0; i < 4; i++, v = Math.floor(v / 26)) {
      letters = String.fromCharCode(65 + (v % 26)) + letters;
    }
    return { nam: encodeNam(letters, birth, rand() < 0.5, x % 100) };
  }

  /** A line for `code` that breaks no rule (given a code and establishment that fit `day`). */
  function lineFor(visit: Visit, code: CodeRef, overrides: Partial<ClaimLine> = {}): ClaimLine {
    const roomy = code.max_per_day === null ? 3 : Math.min(code.max_per_day, 3);
    const units = rand() < 0.8 ? 1 : int(1, roomy);
    const wanted = code.requires_context ? int(1, 2) : rand() < 0.3 ? 1 : 0;
    const chosen = new Set<string>();
    while (chosen.size < wanted) chosen.add(pick(contexts));
    const full = code.tariff_cents * units;
    visit.codesUsed.add(code.code);
    return {
      invoice: visit.invoice,
      lineNo: visit.lines - visit.remaining,
      nam: visit.nam,
      birth: visit.birth,
      physician: visit.physician,
      establishment: visit.establishment,
      day: visit.day,
      code,
      contexts: [...chosen],
      units,
      amount: rand() < 0.8 ? full : int(Math.ceil(full / 2), full),
      submission: visit.submission,
      ...overrides,
    };
  }

  function validLine(visit: Visit): ClaimLine {
    const line = lineFor(visit, pick(codesFor(visit.day, visit.establishment, visit.codesUsed)));
    visit.anchors.push(line);
    return line;
  }

  return {
    rand,
    int,
    pick,
    today,
    todayDay,
    maxDays,
    codes,
    establishments,
    isCabinet,
    fits,
    inEffect,
    physicians,
    codesFor,
    newVisit,
    lineFor,
    validLine,
    nextInvoice: () => String(++invoices),
    reference,
  };
}

function paramOf<T>(reference: ReferenceSnapshot, rule: string, name: string, fallback: T): T {
  const value = reference.rules.get(rule)?.params[name];
  return value === undefined ? fallback : (value as T);
}

function formatLine(line: ClaimLine, delimiter: CsvDelimiter, world: World): string {
  const timed = world.rand() < 0.6;
  const start = world.int(7 * 60, 20 * 60);
  const end = start + world.int(10, 60);
  const time = (minutes: number) =>
    `${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
  const cells: Record<string, string> = {
    invoice_number: line.invoice,
    line_number: String(line.lineNo),
    patient_nam: line.nam,
    patient_birth_date: line.birth,
    physician_number: line.physician,
    establishment_number: line.establishment.number,
    service_date: dateOfDay(line.day),
    billing_code: line.code.code,
    context_codes: line.contexts.join(world.rand() < 0.5 ? " " : ";"),
    units: String(line.units),
    amount_cents: money(line.amount, delimiter === "," ? "." : ","),
    diagnosis_code: world.rand() < 0.7 ? world.pick(DIAGNOSES) : "",
    referring_physician: world.rand() < 0.15 ? world.pick(world.physicians) : "",
    start_time: timed ? time(start) : "",
    end_time: timed ? time(end) : "",
    submission_date: line.submission,
  };
  return csvLine(
    CLAIM_COLUMNS.map((c) => cells[c.name] ?? ""),
    delimiter,
  );
}

/** ICD-9 codes, as RAMQ still uses them. */
const DIAGNOSES = ["250", "401", "4019", "786", "V700", "4659", "7242", "311", "493", "2724", "V221", "780"];

function money(cents: number, mark: string): string {
  const abs = Math.abs(cents);
  return `${cents < 0 ? "-" : ""}${Math.floor(abs / 100)}${mark}${String(abs % 100).padStart(2, "0")}`;
}

function csvLine(cells: string[], delimiter: string): string {
  const quoted = cells.map((c) =>
    c.includes(delimiter) || c.includes('"') || /[\r\n]/.test(c) ? `"${c.replaceAll('"', '""')}"` : c,
  );
  return `${quoted.join(delimiter)}\r\n`;
}

// mulberry32: a tiny seeded PRNG, good enough for fixtures.
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Generated claims as a pull-based byte stream (UTF-8, Latin-1 as older exports are, or UTF-16 with its BOM as
 * Excel's "Unicode text" export is), in ~64 KiB chunks; `expected` resolves once the last line has been pulled.
 *
 * @example
 * const { stream, expected } = streamClaims({ reference, rows: 5000, seed: 1, encoding: "latin1" });
 * for await (const line of parseClaims(stream)) …;
 * console.log((await expected).findings);
 */
export function streamClaims(
  options: GenerateClaimsOptions & { encoding?: ClaimsFileEncoding; chunkChars?: number },
): { stream: ReadableStream<Uint8Array>; expected: Promise<ClaimsExpectation> } {
  const { encoding = "utf8", chunkChars = 1 << 16 } = options;
  const lines = generateClaims(options);
  const { promise, resolve } = Promise.withResolvers<ClaimsExpectation>();
  let bom = claimsBom(encoding);
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        let text = bom;
        bom = "";
        while (text.length < chunkChars) {
          const next = lines.next();
          if (next.done) {
            if (text) controller.enqueue(encodeClaimsText(text, encoding));
            controller.close();
            resolve(next.value);
            return;
          }
          text += next.value;
        }
        controller.enqueue(encodeClaimsText(text, encoding));
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, expected: promise };
}

export type ClaimsFileEncoding = "utf8" | "latin1" | "utf16le" | "utf16be";

/** The byte order mark a file in `encoding` starts with, as text (U+FEFF): UTF-16 files carry one, others not. */
export function claimsBom(encoding: ClaimsFileEncoding): string {
  return encoding === "utf16le" || encoding === "utf16be" ? "\uFEFF" : "";
}

const utf8 = new TextEncoder();

/**
 * Encodes text as UTF-8, Latin-1 (ISO-8859-1; throws on a character Latin-1 cannot hold) or UTF-16 LE/BE
 * (the BOM only if `text` starts with U+FEFF: see {@link claimsBom}).
 *
 * @example
 * encodeClaimsText("No établissement", "latin1"); // é is the single byte 0xE9
 */
export function encodeClaimsText(text: string, encoding: ClaimsFileEncoding): Uint8Array {
  if (encoding === "utf8") return utf8.encode(text);
  if (encoding === "utf16le" || encoding === "utf16be") return utf16(text, encoding === "utf16le");
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`Latin-1 cannot encode ${JSON.stringify(text[i])}`);
    bytes[i] = c;
  }
  return bytes;
}

/** UTF-16 code units of `text` (JS strings are UTF-16 already: surrogate pairs come out as they are). */
function utf16(text: string, littleEndian: boolean): Uint8Array {
  const bytes = new Uint8Array(text.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < text.length; i++) view.setUint16(i * 2, text.charCodeAt(i), littleEndian);
  return bytes;
}
