import { type Database, rowsOf } from "@fig/db";
import { DomainError } from "@fig/service";
import { parse } from "csv-parse/stream";
import { stringify } from "csv-stringify/sync";
import { asc, getTableColumns, getTableName, gt, sql } from "drizzle-orm";
import type { PgColumn } from "drizzle-orm/pg-core";
import type { RecordChange } from "./changes.ts";
import { REFERENCE_CHANGED_MAX_KEYS } from "./event-catalog.ts";
import type { CsvColumn, ResourceSpec, Row } from "./resource.ts";
import { searchTextOf } from "./resource.ts";

export type LineError = { location: string; line: number; column: string | null; message: string };
export type ImportResult = { rows: number; inserted: number; updated: number; unchanged: number };
export type ImportOptions = {
  /** Writes the import's one event (none when the file changed nothing) in the import's transaction. */
  recordChange: RecordChange;
  batchSize?: number;
  maxReportedErrors?: number;
  traceparent?: string | undefined;
};

/** Thrown inside the import transaction to roll it back; turned into the 422 report outside. */
class ImportRejected extends Error {}

function cellToValue(column: CsvColumn, cell: string): { value?: unknown; error?: string } {
  const raw = cell.trim();
  if (raw === "")
    return column.nullable
      ? { value: null }
      : column.kind === "text"
        ? { value: "" }
        : { error: "is required" };
  switch (column.kind) {
    case "text":
      return { value: cell };
    case "int":
      return /^-?\d+$/.test(raw) ? { value: Number(raw) } : { error: `"${raw}" is not a whole number` };
    case "bool":
      return raw === "true" || raw === "false"
        ? { value: raw === "true" }
        : { error: `"${raw}" is not true or false` };
    case "date":
      return { value: raw };
    case "json":
      try {
        return { value: JSON.parse(raw) };
      } catch {
        return { error: "is not valid JSON" };
      }
  }
}

function valueToCell(column: CsvColumn, value: unknown): string {
  if (value === null || value === undefined) return "";
  if (column.kind === "json") return JSON.stringify(value);
  return String(value);
}

/**
 * Streams a CSV body into the table, all or nothing: every row is validated as the POST body would be;
 * if any line is bad, nothing is written and the error lists every bad line (up to `maxReportedErrors`).
 * Valid rows are upserted in batches inside one transaction while the file streams in, so memory stays flat.
 */
export async function importCsv(
  db: Database,
  spec: ResourceSpec,
  body: ReadableStream<Uint8Array>,
  { recordChange, batchSize = 1000, maxReportedErrors = 1000, traceparent }: ImportOptions,
): Promise<ImportResult> {
  const errors: LineError[] = [];
  let errorCount = 0;
  const report = (e: Omit<LineError, "location">) => {
    errorCount++;
    if (errors.length < maxReportedErrors)
      errors.push({ location: `line.${e.line}${e.column ? `.${e.column}` : ""}`, ...e });
  };
  const result: ImportResult = { rows: 0, inserted: 0, updated: 0, unchanged: 0 };

  try {
    await db.transaction(async (tx) => {
      const upsert = upsertBatch(spec);
      let header: CsvColumn[] | undefined;
      const seen = new Map<string, number>();
      let batch: Row[] = [];
      const changedKeys: string[] = [];
      // Rows travel in the event only up to its limit; past it the event is truncated anyway.
      const changedRows: Row[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        if (errorCount === 0) {
          const outcome = await upsert(tx as unknown as Database, batch);
          result.inserted += outcome.inserted;
          result.updated += outcome.updated;
          for (const key of outcome.keys) changedKeys.push(key);
          if (changedKeys.length <= REFERENCE_CHANGED_MAX_KEYS) {
            const changed = new Set(outcome.keys);
            for (const row of batch) if (changed.has(String(row[spec.key]))) changedRows.push(row);
          }
        }
        batch = [];
      };

      // csv-parse decodes bytes itself (keeping multi-byte characters split across chunks whole).
      const records = body.pipeThrough(
        parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true }),
      );
      try {
        for await (const { record, info } of records as AsyncIterable<{
          record: string[];
          info: { lines: number };
        }>) {
          if (!header) {
            header = readHeader(spec, record);
            continue;
          }
          result.rows++;
          const row = readRow(spec, header, record, info.lines, report, seen);
          if (row) batch.push(row);
          if (batch.length >= batchSize) await flush();
        }
      } catch (error) {
        if (!isCsvError(error)) throw error;
        // A syntax error (say, an unclosed quote) stops the parser: report it with everything found so far.
        report({ line: error.lines ?? result.rows + 2, column: null, message: error.message });
      }
      if (!header && errorCount === 0)
        throw new DomainError("unprocessable", "The file is empty: expected a header row");
      await flush();
      if (errorCount > 0) throw new ImportRejected();
      result.unchanged = result.rows - result.inserted - result.updated;
      // One event per import, and none when the file changed nothing.
      if (changedKeys.length > 0)
        await recordChange(
          tx as unknown as Database,
          { spec, op: "imported", keys: changedKeys, rows: changedRows },
          traceparent,
        );
    });
  } catch (error) {
    if (!(error instanceof ImportRejected)) throw error;
    throw new DomainError(
      "unprocessable",
      `${errorCount} problem${errorCount === 1 ? "" : "s"} in the file; nothing was imported` +
        (errorCount > errors.length ? ` (the first ${errors.length} are listed)` : ""),
      { errors, details: { errorCount } },
    );
  }
  return result;
}

function isCsvError(error: unknown): error is Error & { code: string; lines?: number } {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof Error && typeof code === "string" && code.startsWith("CSV_");
}

function readHeader(spec: ResourceSpec, record: string[]): CsvColumn[] {
  const names = record.map((h) => h.trim().toLowerCase());
  const known = new Map(spec.columns.map((c) => [c.name, c]));
  const missing = spec.columns.filter((c) => !names.includes(c.name)).map((c) => c.name);
  const unknown = names.filter((n) => !known.has(n));
  if (missing.length || unknown.length) {
    const errors = [
      ...missing.map((name) => ({
        location: `line.1.${name}`,
        line: 1,
        column: name,
        message: "column is missing",
      })),
      ...unknown.map((name) => ({
        location: `line.1.${name}`,
        line: 1,
        column: name,
        message: "unknown column",
      })),
    ];
    throw new DomainError(
      "unprocessable",
      `The header must be: ${spec.columns.map((c) => c.name).join(",")}`,
      {
        errors,
      },
    );
  }
  return names.map((n) => known.get(n) as CsvColumn);
}

function readRow(
  spec: ResourceSpec,
  header: CsvColumn[],
  record: string[],
  line: number,
  report: (e: Omit<LineError, "location">) => void,
  seen: Map<string, number>,
): Row | undefined {
  if (record.length !== header.length) {
    report({ line, column: null, message: `expected ${header.length} fields, found ${record.length}` });
    return undefined;
  }
  const values: Row = {};
  let bad = false;
  header.forEach((column, i) => {
    const cell = record[i] ?? "";
    // csv-parse decodes invalid UTF-8 as U+FFFD; such a cell would silently corrupt the data.
    const { value, error } = cell.includes("\uFFFD")
      ? { value: undefined, error: "is not valid UTF-8 (save the file as CSV UTF-8)" }
      : cellToValue(column, cell);
    if (error) {
      report({ line, column: column.name, message: error });
      bad = true;
    } else values[column.name] = value;
  });
  if (bad) return undefined;
  const parsed = spec.create.safeParse(values);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      report({ line, column: String(issue.path[0] ?? ""), message: issue.message });
    return undefined;
  }
  const row = parsed.data as Row;
  const key = String(row[spec.key]);
  const firstLine = seen.get(key);
  if (firstLine !== undefined) {
    report({ line, column: spec.key, message: `${spec.key} ${key} already appears on line ${firstLine}` });
    return undefined;
  }
  seen.set(key, line);
  return { ...row, search_text: searchTextOf(spec, row) };
}

/** INSERT … ON CONFLICT DO UPDATE, touching (and re-versioning) only rows whose content changed. */
const pgType: Record<CsvColumn["kind"], string> = {
  text: "text",
  int: "int4",
  bool: "bool",
  date: "date",
  json: "jsonb",
};

/**
 * INSERT … SELECT FROM jsonb_to_recordset($batch) … ON CONFLICT DO UPDATE, touching (and re-versioning) only
 * rows whose content changed. The batch travels as one JSON parameter instead of one parameter per cell:
 * building and planning a 1,000-row VALUES list per batch cost more than the rows themselves.
 */
function upsertBatch(spec: ResourceSpec) {
  const columns = getTableColumns(spec.table) as Record<string, PgColumn>;
  const all = [...spec.columns, { name: "search_text", kind: "text" as const }];
  const name = (n: string) => `"${(columns[n] as PgColumn).name}"`;
  const table = `"${getTableName(spec.table)}"`;
  const data = all.filter((c) => c.name !== spec.key).map((c) => c.name);
  const head = sql.raw(
    `insert into ${table} (${all.map((c) => name(c.name)).join(", ")}) ` +
      `select ${all.map((c) => name(c.name)).join(", ")} from jsonb_to_recordset(`,
  );
  const tail = sql.raw(
    `::jsonb) as x(${all.map((c) => `${name(c.name)} ${pgType[c.kind]}`).join(", ")}) ` +
      `on conflict (${name(spec.key)}) do update set ${data.map((n) => `${name(n)} = excluded.${name(n)}`).join(", ")}, ` +
      `"version" = ${table}."version" + 1, "updated_at" = now() ` +
      `where (${data.map((n) => `${table}.${name(n)}`).join(", ")}) is distinct from (${data.map((n) => `excluded.${name(n)}`).join(", ")}) ` +
      // xmax = 0 only on a freshly inserted row version: the usual way to tell insert from update in an upsert.
      `returning ${name(spec.key)} as key, (xmax = 0) as inserted`,
  );
  return async (db: Database, rows: Row[]) => {
    const result = await db.execute(sql`${head}${JSON.stringify(rows)}${tail}`);
    const written = rowsOf<{ key: unknown; inserted: boolean }>(result);
    const inserted = written.filter((w) => w.inserted).length;
    return { inserted, updated: written.length - inserted, keys: written.map((w) => String(w.key)) };
  };
}

/** The table as CSV in exactly the import format, streamed page by page in key order. */
export function exportCsv(db: Database, spec: ResourceSpec, pageSize = 1000): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const names = spec.columns.map((c) => c.name);
  let after: string | undefined;
  let headerSent = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(encoder.encode(stringify([names])));
      }
      const rows = (await db
        .select()
        .from(spec.table)
        .where(after === undefined ? undefined : gt(spec.keyColumn, after))
        .orderBy(asc(spec.keyColumn))
        .limit(pageSize)) as Row[];
      if (rows.length === 0) {
        controller.close();
        return;
      }
      after = String(rows.at(-1)?.[spec.key]);
      controller.enqueue(
        encoder.encode(stringify(rows.map((r) => spec.columns.map((c) => valueToCell(c, r[c.name]))))),
      );
    },
  });
}
