import { type CsvError, type InfoRecord, type Options, parse } from "csv-parse/stream";
import { parse as parseSync } from "csv-parse/sync";

/** A record as read from the CSV text: its physical start line, its cells, and why it is broken, if it is. */
export type CsvRow = { line: number; fields: string[]; error: string | null };

export type CsvDelimiter = "," | ";" | "\t";

const QUOTE = 34;
const CR = 13;
const LF = 10;

/** One csv-parse instance, from the byte where it was started to where its last record ended. */
type Instance = {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  /** The physical line after its last record: where the next record starts, blank lines aside. */
  nextLine: number;
  /** csv-parse's `lines` and `empty_lines` counters at its last record. */
  lines: number;
  emptyLines: number;
  /** Where it was started, and where its last record ended (past the line break), in the bytes given to csv-parse. */
  base: number;
  recordEnd: number;
  /** The error csv-parse stopped at: the instance is dropped after it. */
  failure: Failure | null;
};

/**
 * Where the lines split here sit among csv-parse's records: after the csv-parse bytes up to `at` (csv-parse holds
 * the last bytes it was given, so the record ending there may not be out yet) and before the record starting at
 * line `line` (the next quoted stretch's first line). `rows` wait there until csv-parse's records catch up.
 */
type Gap = { at: number; line: number; rows: CsvRow[] };

/** Split rows held behind gaps before csv-parse is made to finish its record (by closing it) to let them out. */
const MAX_HELD_ROWS = 1024;

/** A broken record: the line it starts on, and whether the fault is on that line too. */
type Failure = { error: CsvError; line: number; onFirstLine: boolean };

/**
 * CSV records from text fed chunk by chunk (so a 1 GB file never sits in memory), parsed by csv-parse:
 * RFC 4180 quoting (delimiters, `""` and line breaks inside quotes), records ending at LF, CRLF or CR, blank
 * lines skipped. What it adds is the physical line each record starts on, and recovery from a broken record:
 * csv-parse reports it (`skip_records_with_error`), the record becomes an error row, and a fresh csv-parse
 * instance takes over at the next line break after the fault. Holds the bytes of the record being read and
 * one chunk; csv-parse's `max_record_size` bounds a runaway record.
 *
 * Fast path: a line without a quote character is split at the delimiter right here, from the text, with the
 * cells csv-parse would give it (it has no other rule for such a line). A line with a quote (and every line
 * up to the end of its record, and the quoted lines right after), or one long enough to reach
 * `max_record_size`, goes to csv-parse as bytes; the stretch ends at a line break outside quotes (counted from
 * csv-parse's last record), where csv-parse ends a record too, and splitting resumes. One csv-parse instance
 * reads all the stretches, as if the lines between them were not there; as it holds the last bytes it was given
 * until more come, the rows split after a stretch wait (a {@link Gap}) until its last record is out.
 * `fastPath: false` sends everything to csv-parse (the differential test compares the two).
 */
export class CsvRecords {
  private readonly encoder = new TextEncoder();
  private readonly options: Options;
  private readonly delimiter: CsvDelimiter;
  private readonly fastPath: boolean;
  private instance: Instance;
  /** The bytes from `pendingStart` (in the stream of bytes given to csv-parse) to what was fed: the current record. */
  private pending: Uint8Array = new Uint8Array(0);
  private pendingStart = 0;
  /** After a broken record: drop bytes up to the next line break, then resume on `line`. */
  private skipping: { line: number; afterCr: boolean } | null = null;
  private rows: CsvRow[] = [];
  /** Split rows waiting for csv-parse's records before them, oldest first. */
  private gaps: Gap[] = [];
  /** Whether lines are split here (else a stretch is being given to csv-parse). */
  private splitting: boolean;
  /** Splitting: the physical line the next line starts on; the start of a line not ended yet; a CR just seen. */
  private line = 1;
  private tail = "";
  private afterCr = false;
  /** Stretch: its first line and the line breaks given since; quotes open; the last byte given was a CR. */
  private stretchLine = 1;
  private stretchBreaks = 0;
  private quoted = false;
  private crFed = false;
  /** Where the next LF, CR and quote are in the text being split (-1: none left; -2: not looked for). */
  private nextLf = -2;
  private nextCr = -2;
  private nextQuote = -2;

  constructor(
    delimiter: CsvDelimiter,
    private readonly maxRecordChars = 1 << 20,
    { fastPath = true }: { fastPath?: boolean } = {},
  ) {
    this.options = {
      delimiter,
      record_delimiter: ["\r\n", "\n", "\r"],
      relax_column_count: true, // the field count is checked against the header by the caller
      skip_empty_lines: true,
      skip_records_with_error: true,
      max_record_size: maxRecordChars,
    };
    this.delimiter = delimiter;
    this.fastPath = fastPath;
    this.splitting = fastPath;
    this.instance = this.open(0, 1);
  }

  /** Parses `text`, returning every record it completes. */
  async push(text: string): Promise<CsvRow[]> {
    // What TextEncoder would do to a lone surrogate, so both paths read the same characters.
    if (!(text as WellFormed).isWellFormed()) text = (text as WellFormed).toWellFormed();
    if (!this.fastPath) {
      await this.give(text, 0, text.length);
      this.trim();
      return this.take();
    }
    if (this.tail !== "") {
      text = this.tail + text;
      this.tail = "";
    }
    this.nextLf = this.nextCr = this.nextQuote = -2;
    let i = 0;
    while (i < text.length) {
      if (this.splitting) {
        i = this.split(text, i);
        if (i >= text.length) break;
        this.splitting = false;
        const gap = this.gaps[this.gaps.length - 1];
        if (gap) gap.line = this.line;
        else this.instance.nextLine = this.line; // csv-parse has let out all it was given
        this.stretchLine = this.line;
        this.stretchBreaks = 0;
        this.quoted = false;
        this.crFed = false;
      }
      if (this.crFed) {
        // What was given ended with a CR: an LF starting this text is the rest of its line break.
        if (text.charCodeAt(i) === LF) await this.give(text, i, ++i);
        this.crFed = false;
      } else {
        const end = this.stretchEnd(text, i);
        this.stretchBreaks += countBreaksIn(text, i, end);
        await this.give(text, i, end);
        i = end;
        if (i >= text.length && text.charCodeAt(i - 1) === CR) {
          this.crFed = true; // it may be a CRLF cut in two: wait for the next text
          continue;
        }
      }
      if (this.closable()) {
        this.splitting = true;
        this.line = this.stretchLine + this.stretchBreaks;
        this.gaps.push({ at: this.fedEnd(), line: -1, rows: [] });
      }
    }
    if (this.splitting && this.held() > MAX_HELD_ROWS) await this.settle();
    this.trim();
    return this.take();
  }

  /** Flushes the last record when the text ends. */
  async end(): Promise<CsvRow[]> {
    if (this.tail !== "") {
      this.out().push({ line: this.line, fields: this.tail.split(this.delimiter), error: null });
      this.tail = "";
    }
    await this.feed(new Uint8Array(0), true);
    this.release();
    return this.take();
  }

  private take(): CsvRow[] {
    const rows = this.rows;
    this.rows = [];
    return rows;
  }

  /** Where a split row goes: behind the last gap, if csv-parse's records may still come before it. */
  private out(): CsvRow[] {
    const gap = this.gaps[this.gaps.length - 1];
    return gap ? gap.rows : this.rows;
  }

  private held(): number {
    let n = 0;
    for (const gap of this.gaps) n += gap.rows.length;
    return n;
  }

  /** Lets every held row out (csv-parse has nothing left before them). */
  private release(): void {
    for (const gap of this.gaps) for (const row of gap.rows) this.rows.push(row);
    this.gaps = [];
  }

  /**
   * Lets the held rows out (so a file with few quotes does not pile them up): csv-parse is closed, which ends
   * the record it holds, and a new instance (given nothing yet, so no gap) waits for the next stretch.
   */
  private async settle(): Promise<void> {
    if (this.fedEnd() !== this.instance.base) {
      await this.feed(new Uint8Array(0), true);
      this.pendingStart += this.pending.length;
      this.pending = new Uint8Array(0);
      this.skipping = null;
      this.instance = this.open(this.fedEnd(), this.line);
    }
    this.release();
  }

  /**
   * Splits the quote-free lines of `text` from `i` into rows, and returns where a line that needs csv-parse
   * starts, or the length of `text` (a line not ended yet kept in `tail`).
   */
  private split(text: string, i: number): number {
    const limit = Math.floor(this.maxRecordChars / 3); // a UTF-16 unit is at most 3 UTF-8 bytes
    const delimiter = this.delimiter;
    const rows = this.out();
    // Where the next LF, CR and quote are (-1: none left), kept for the whole text: a search for a CR in a file
    // without one would otherwise scan to the end of the text for every quoted stretch.
    let lf = this.nextLf;
    let cr = this.nextCr;
    let quote = this.nextQuote;
    for (;;) {
      if (this.afterCr) {
        if (i >= text.length) return i;
        if (text.charCodeAt(i) === LF) i++;
        this.afterCr = false;
      }
      if (i >= text.length) return i;
      if (lf !== -1 && lf < i) lf = text.indexOf("\n", i);
      if (cr !== -1 && cr < i) cr = text.indexOf("\r", i);
      if (quote !== -1 && quote < i) quote = text.indexOf('"', i);
      const end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      const stop = end < 0 ? text.length : end;
      if ((quote >= 0 && quote < stop) || stop - i > limit || end < 0) {
        this.nextLf = lf;
        this.nextCr = cr;
        this.nextQuote = quote;
        if (end >= 0 || (quote >= 0 && quote < stop) || stop - i > limit) return i;
        this.tail = text.slice(i);
        return text.length;
      }
      if (end > i) rows.push({ line: this.line, fields: text.slice(i, end).split(delimiter), error: null });
      this.line++;
      i = end + 1;
      if (end === cr) {
        if (i < text.length) {
          if (text.charCodeAt(i) === LF) i++;
        } else this.afterCr = true;
      }
    }
  }

  /**
   * Where the csv-parse stretch from `i` may end: just past the first line break outside quotes whose next
   * line has no quote (or is not in `text` yet), LF after a CR included; or the length of `text`.
   */
  private stretchEnd(text: string, i: number): number {
    let quoted = this.quoted;
    for (let j = i; j < text.length; j++) {
      const c = text.charCodeAt(j);
      if (c === QUOTE) quoted = !quoted;
      else if (!quoted && (c === LF || c === CR)) {
        let end = j + 1;
        if (c === CR) {
          if (end >= text.length) {
            this.quoted = quoted;
            return end;
          }
          if (text.charCodeAt(end) === LF) end++;
        }
        const quote = text.indexOf('"', end);
        if (quote < 0 || hasBreak(text, end, quote)) {
          this.quoted = false;
          return end;
        }
        j = end - 1; // the next line has a quote: keep it in this stretch
      }
    }
    this.quoted = quoted;
    return text.length;
  }

  /** Gives `text[from, to)` to csv-parse. */
  private async give(text: string, from: number, to: number): Promise<void> {
    const bytes = this.encoder.encode(from === 0 && to === text.length ? text : text.slice(from, to));
    this.pending = this.pending.length === 0 ? bytes : concat(this.pending, bytes);
    await this.feed(bytes, false);
  }

  /**
   * Whether the stretch can end here (lines be split again) without changing a record: not skipping after a
   * fault, what csv-parse was given ends with a line break, and the quotes since its last record are paired (so
   * it is not inside quotes: the record it holds, if any, ends at that line break).
   */
  private closable(): boolean {
    const instance = this.instance;
    if (this.skipping || instance.failure) return false;
    const pending = this.pending;
    if (pending.length > 0 && !isBreak(pending[pending.length - 1] as number)) return false;
    let quotes = 0;
    for (let k = Math.max(instance.recordEnd - this.pendingStart, 0); k < pending.length; k++)
      if (pending[k] === QUOTE) quotes++;
    this.quoted = quotes % 2 === 1;
    return !this.quoted;
  }

  /** Feeds `data` (the tail of `pending`) to csv-parse, starting a new instance after each broken record. */
  private async feed(data: Uint8Array, end: boolean): Promise<void> {
    for (;;) {
      if (this.skipping) {
        const resume = this.resumeAfterBreak(data, end);
        if (resume < 0) return;
        data = data.subarray(resume);
      }
      const instance = this.instance;
      try {
        if (data.length > 0) await instance.writer.write(asBuffer(data));
        if (end) await instance.writer.close();
      } catch (error) {
        if (!instance.failure) throw error; // else: the instance was stopped at its failure
      }
      if (!instance.failure) return;
      data = this.recover(instance.failure);
      if (data.length === 0 && !end) return;
    }
  }

  /**
   * While skipping: the index in `data` just past the next line break, a new instance started there; or -1
   * if `data` holds none (all of it dropped).
   */
  private resumeAfterBreak(data: Uint8Array, end: boolean): number {
    const skipping = this.skipping as { line: number; afterCr: boolean };
    let at: number;
    if (skipping.afterCr) {
      at = data.length === 0 ? -1 : data[0] === LF ? 1 : 0;
    } else {
      const i = indexOfBreak(data, 0);
      if (i < 0) at = -1;
      else if (data[i] === LF) at = i + 1;
      else if (i + 1 < data.length) at = data[i + 1] === LF ? i + 2 : i + 1;
      else {
        skipping.afterCr = true; // a CR at the end of the chunk: skip an LF starting the next one
        at = -1;
      }
    }
    if (at < 0) {
      if (end) this.skipping = null;
      return -1;
    }
    this.instance = this.open(this.fedEnd() - data.length + at, skipping.line);
    this.skipping = null;
    return at;
  }

  /**
   * Turns the instance's failure into an error row and returns the bytes to go on with (from the fault on,
   * skipping to the next line break). An unterminated quote at the end of the text leaves nothing to go on with.
   */
  private recover({ error, line, onFirstLine }: Failure): Uint8Array {
    const pending = this.pending;
    const offset = this.pendingStart;
    let start = Math.max(this.instance.recordEnd - offset, 0);
    while (start < pending.length && isBreak(pending[start] as number)) start++;
    if (error.code === "CSV_QUOTE_NOT_CLOSED") {
      this.rows.push({ line, fields: [], error: "unterminated quoted field" });
      this.skipping = { line: Number.POSITIVE_INFINITY, afterCr: false };
      return new Uint8Array(0);
    }
    // Where the fault is. On the record's first line any byte of that line will do (the next line break is the
    // same), except to name the character after a closing quote.
    const exact = !onFirstLine || error.code === "CSV_INVALID_CLOSING_QUOTE";
    let fault = exact ? this.locateFault(start) : start;
    if (pending[fault] === LF && fault > start && pending[fault - 1] === CR) fault--; // the CR of its CRLF
    this.rows.push({ line, fields: [], error: this.describe(error, pending.subarray(fault + 1, fault + 5)) });
    this.skipping = { line: line + countBreaks(pending, start, fault) + 1, afterCr: false };
    return pending.subarray(fault);
  }

  /**
   * The index in `pending` of the byte csv-parse failed at, for the record starting at `start`. csv-parse
   * tells it only as the record's text up to it (`raw`): parse the record again, alone, with `raw` on.
   */
  private locateFault(start: number): number {
    try {
      parseSync(asBuffer(this.pending.subarray(start)), {
        ...this.options,
        raw: true,
        on_skip: (_error, raw) => {
          throw new FaultAt(raw ?? "");
        },
      });
    } catch (e) {
      if (!(e instanceof FaultAt)) throw e;
      const end = start + Math.max(this.encoder.encode(e.raw).length - 1, 0);
      return Math.min(end, this.pending.length - 1);
    }
    return start; // not found again (cannot happen): skip from the record's start
  }

  private describe(error: CsvError, after: Uint8Array): string {
    switch (error.code) {
      case "CSV_INVALID_CLOSING_QUOTE": {
        const next = String.fromCodePoint(new TextDecoder().decode(after).codePointAt(0) ?? 0xfffd);
        return `unexpected character ${JSON.stringify(next)} after a closing quote`;
      }
      case "INVALID_OPENING_QUOTE":
        return "a quote inside an unquoted field (quote the whole field and double its quotes)";
      case "CSV_MAX_RECORD_SIZE":
        return `record longer than ${this.maxRecordChars} characters (an unterminated quote?); skipped to the next line break`;
      default:
        return error.message;
    }
  }

  private open(base: number, line: number): Instance {
    const instance: Instance = {
      writer: undefined as unknown as Instance["writer"],
      nextLine: line,
      lines: 0,
      emptyLines: 0,
      base,
      recordEnd: base,
      failure: null,
    };
    const stream = parse({
      ...this.options,
      on_record: (fields: string[], info: InfoRecord) => {
        const blank = info.empty_lines - instance.emptyLines;
        const end = base + info.bytes;
        // The first record after split lines starts the stretch that followed them.
        let line = instance.nextLine + blank;
        while (this.gaps.length > 0 && end > (this.gaps[0] as Gap).at) line = this.cross();
        // csv-parse's `lines` counts a CRLF inside quotes twice, so it only tells whether the record spans
        // lines; if it does, its line breaks are counted in its cells.
        const spanned = info.lines - instance.lines === 1 + blank ? 0 : breaksIn(fields);
        instance.nextLine = line + spanned + 1;
        instance.lines = info.lines;
        instance.emptyLines = info.empty_lines;
        instance.recordEnd = end;
        this.rows.push({ line, fields, error: null });
        return null; // collected here, not queued on the stream
      },
      on_skip: (error) => {
        if (!error) return;
        const blank = Number(error.empty_lines) - instance.emptyLines;
        // csv-parse's `lines` at the fault, against its count where the record started (it only over-counts).
        const onFirstLine = Number(error.lines) === instance.lines + 1 + blank;
        let line = instance.nextLine + blank;
        if (this.gaps.length > 0) {
          // Where the broken record starts: after the last record and the blank lines after it.
          let start = instance.recordEnd - this.pendingStart;
          while (start < this.pending.length && isBreak(this.pending[start] as number)) start++;
          while (this.gaps.length > 0 && this.pendingStart + start >= (this.gaps[0] as Gap).at)
            line = this.cross();
        }
        instance.failure = { error, line, onFirstLine };
        // csv-parse would go on, out of step (still inside quotes, or dropping the rest): stop it here.
        throw error;
      },
    });
    instance.writer = stream.writable.getWriter();
    return instance;
  }

  /** Lets the rows of the oldest gap out, and returns the line the record after it starts on. */
  private cross(): number {
    const gap = this.gaps.shift() as Gap;
    for (const row of gap.rows) this.rows.push(row);
    return gap.line;
  }

  private fedEnd(): number {
    return this.pendingStart + this.pending.length;
  }

  /**
   * Drops the bytes before the current record. The blank lines before it stay: `close` counts them (csv-parse
   * holds the last bytes it was given, so it may not have seen them yet).
   */
  private trim(): void {
    const recordEnd = this.instance.recordEnd;
    const from = this.skipping ? this.pending.length : Math.max(recordEnd - this.pendingStart, 0);
    if (from === 0) return;
    this.pending = this.pending.slice(from);
    this.pendingStart += from;
  }
}

/** ES2024's string methods, which the workspace's `lib` setting does not declare yet (Bun has them). */
type WellFormed = string & { isWellFormed(): boolean; toWellFormed(): string };

class FaultAt {
  constructor(readonly raw: string) {}
}

const isBreak = (byte: number): boolean => byte === LF || byte === CR;

/** Line breaks (LF, CRLF or CR) in `text[from, to)`. */
function countBreaksIn(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || (c === CR && text.charCodeAt(i + 1) !== LF)) n++;
  }
  return n;
}

function hasBreak(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || c === CR) return true;
  }
  return false;
}

function indexOfBreak(bytes: Uint8Array, from: number): number {
  const lf = bytes.indexOf(LF, from);
  const cr = bytes.indexOf(CR, from);
  return lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
}

/** Line breaks (LF, CRLF or CR) in `bytes[from, to)`. */
function countBreaks(bytes: Uint8Array, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const b = bytes[i];
    if (b === LF || (b === CR && bytes[i + 1] !== LF)) n++;
  }
  return n;
}

/** Line breaks (LF, CRLF or CR) inside a record's cells. */
function breaksIn(fields: string[]): number {
  let n = 0;
  for (const field of fields) {
    if (field.indexOf("\n") < 0 && field.indexOf("\r") < 0) continue;
    n += countBreaksIn(field, 0, field.length);
  }
  return n;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

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
