/** A record as read from the CSV text: its physical start line, its cells, and why it is broken, if it is. */
export type CsvRow = { line: number; fields: string[]; error: string | null };

export type CsvDelimiter = "," | ";" | "\t";

const QUOTE = 34;
const CR = 13;
const LF = 10;

// Tokenizer states (plain numbers: the hot loop switches on them for every character).
const RECORD_START = 0;
const FIELD_START = 1;
const UNQUOTED = 2;
const QUOTED = 3;
const QUOTE_IN_QUOTED = 4;
const SKIP_LINE = 5;

/**
 * An RFC 4180 tokenizer fed text chunk by chunk (so a 1 GB file never sits in memory): quoted cells may hold
 * delimiters, doubled quotes and line breaks; records end at LF, CRLF or CR; blank lines are skipped but
 * counted, so every row carries the physical line it starts on. A record longer than `maxRecordChars`
 * (an unterminated quote, most likely) is cut at the next line break and reported, bounding memory.
 */
export class CsvTokenizer {
  private state = RECORD_START;
  private line = 1;
  private recordLine = 1;
  private lastWasCr = false;
  private fields: string[] = [];
  private carry = "";
  private recordChars = 0;
  private error: string | null = null;
  private readonly delimiter: number;
  private chunk = 0;
  private scanned = -1;
  private quoteAt = -1;
  private crAt = -1;

  constructor(
    private readonly delimiterChar: CsvDelimiter,
    private readonly maxRecordChars = 1 << 20,
  ) {
    this.delimiter = delimiterChar.charCodeAt(0);
  }

  /** Tokenizes `text`, appending every record it completes to `out`. */
  push(text: string, out: CsvRow[]): void {
    this.chunk++;
    let i = 0;
    while (i < text.length) {
      if (this.state === RECORD_START && this.lastWasCr) {
        this.lastWasCr = false;
        if (text.charCodeAt(i) === LF) i++; // the LF of a CRLF that ended the last record
        continue;
      }
      const next = this.state === RECORD_START ? this.plainLine(text, i, out) : -1;
      i = next >= 0 ? next : this.step(text, i, out);
    }
  }

  /**
   * The fast path for the common line (no quote, no stray CR, not too long): split it natively.
   * Returns the index after it, or -1 to let the state machine take the line.
   */
  private plainLine(text: string, from: number, out: CsvRow[]): number {
    const lf = text.indexOf("\n", from);
    if (lf < 0 || lf - from > this.maxRecordChars) return -1;
    const end = text.charCodeAt(lf - 1) === CR && lf > from ? lf - 1 : lf;
    if (this.scanned !== this.chunk) {
      this.scanned = this.chunk;
      this.quoteAt = -1;
      this.crAt = -1;
    }
    // Where the next quote and CR are: searched again only once passed, so each chunk is scanned once.
    if (this.quoteAt < from) this.quoteAt = indexOrInfinity(text, '"', from);
    if (this.crAt < from) this.crAt = indexOrInfinity(text, "\r", from);
    if (this.quoteAt < end || this.crAt < end) return -1;
    if (end > from) {
      out.push({ line: this.line, fields: text.slice(from, end).split(this.delimiterChar), error: null });
    }
    this.line++;
    return lf + 1;
  }

  /** The state machine, one character at a time, until a record ends or the text does. */
  private step(text: string, from: number, out: CsvRow[]): number {
    const n = text.length;
    const delimiter = this.delimiter;
    let segmentStart = from;
    for (let i = from; i < n; i++) {
      const c = text.charCodeAt(i);
      const afterCr = this.lastWasCr;
      this.lastWasCr = c === CR;
      if (this.state === RECORD_START) {
        if (c === LF || c === CR) {
          if (!(c === LF && afterCr)) this.line++;
          continue;
        }
        this.recordLine = this.line;
        this.state = FIELD_START;
      }
      switch (this.state) {
        case FIELD_START:
          if (c === QUOTE) {
            this.state = QUOTED;
            segmentStart = i + 1;
          } else if (c === delimiter) {
            this.pushField("");
          } else if (c === LF || c === CR) {
            this.pushField("");
            return this.endRecord(out, i);
          } else {
            this.state = UNQUOTED;
            segmentStart = i;
          }
          continue;
        case UNQUOTED:
          if (c === delimiter) {
            this.pushField(this.take(text, segmentStart, i));
            this.state = FIELD_START;
          } else if (c === LF || c === CR) {
            this.pushField(this.take(text, segmentStart, i));
            return this.endRecord(out, i);
          }
          continue;
        case QUOTED:
          if (c === QUOTE) {
            this.carry += text.slice(segmentStart, i);
            this.state = QUOTE_IN_QUOTED;
          } else if (c === CR || (c === LF && !afterCr)) {
            this.line++;
          }
          continue;
        case QUOTE_IN_QUOTED:
          if (c === QUOTE) {
            this.state = QUOTED;
            segmentStart = i; // keeps one of the two quotes
          } else if (c === delimiter) {
            this.pushField(this.take(text, i, i));
            this.state = FIELD_START;
          } else if (c === LF || c === CR) {
            this.pushField(this.take(text, i, i));
            return this.endRecord(out, i);
          } else {
            this.error ??= `unexpected character ${JSON.stringify(text[i])} after a closing quote`;
            this.state = UNQUOTED;
            segmentStart = i;
          }
          continue;
        case SKIP_LINE:
          if (c === LF || c === CR) {
            this.fields = [];
            return this.endRecord(out, i);
          }
          continue;
      }
    }
    if (this.state === UNQUOTED || this.state === QUOTED) {
      this.carry += text.slice(segmentStart);
      this.checkLength();
    }
    return n;
  }

  /** Flushes the last record when the text ends without a line break. */
  end(out: CsvRow[]): void {
    switch (this.state) {
      case QUOTED:
        this.error ??= "unterminated quoted field";
        this.pushField(this.take("", 0, 0));
        break;
      case UNQUOTED:
      case QUOTE_IN_QUOTED:
        this.pushField(this.take("", 0, 0));
        break;
      case FIELD_START:
        this.pushField("");
        break;
      case SKIP_LINE:
        this.fields = [];
        break;
      default:
        return; // between records
    }
    this.endRecord(out, 0);
  }

  private take(text: string, from: number, to: number): string {
    const value = this.carry === "" ? text.slice(from, to) : this.carry + text.slice(from, to);
    this.carry = "";
    return value;
  }

  private pushField(value: string): void {
    this.fields.push(value);
    this.recordChars += value.length + 1;
    this.checkLength();
  }

  private checkLength(): void {
    if (this.recordChars + this.carry.length <= this.maxRecordChars) return;
    this.error = `record longer than ${this.maxRecordChars} characters (an unterminated quote?); skipped to the next line break`;
    this.carry = "";
    this.state = SKIP_LINE;
  }

  /** Emits the record; `at` is the index of the line break that ends it (the text's end after `end()`). */
  private endRecord(out: CsvRow[], at: number): number {
    out.push({ line: this.recordLine, fields: this.fields, error: this.error });
    this.line++;
    this.fields = [];
    this.recordChars = 0;
    this.error = null;
    this.state = RECORD_START;
    return at + 1;
  }
}

function indexOrInfinity(text: string, search: string, from: number): number {
  const at = text.indexOf(search, from);
  return at < 0 ? Number.POSITIVE_INFINITY : at;
}

/** The delimiter a header line uses: the most frequent of `,` `;` and tab outside quotes (`,` on a tie). */
export function detectDelimiter(headerLine: string): CsvDelimiter {
  const counts = { ",": 0, ";": 0, "\t": 0 };
  let quoted = false;
  for (const ch of headerLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === "," || ch === ";" || ch === "\t")) counts[ch]++;
  }
  let best: CsvDelimiter = ",";
  for (const d of [";", "\t"] as const) if (counts[d] > counts[best]) best = d;
  return best;
}

/** The text up to the first line break outside quotes, or undefined if `text` does not hold a whole line yet. */
export function firstLine(text: string): string | undefined {
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) quoted = !quoted;
    else if (!quoted && (c === LF || c === CR)) {
      const line = text.slice(0, i);
      if (line.trim() !== "") return line;
    }
  }
  return undefined;
}
