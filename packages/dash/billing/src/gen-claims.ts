/**
 * `bun run gen:claims`: writes a synthetic RAMQ-style claims file consistent with reference-data's seed,
 * with known injected errors, and `<out>.expected.json` saying exactly how many findings of each rule the
 * engine must report (every other line is clean). Streams: a million lines never sit in memory.
 *
 *   bun run gen:claims --rows 100000 --error-rate 0.05 --encoding latin1 --seed 7 --out claims.csv
 *
 * Without --out the CSV goes to stdout and the expectation to stderr.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  type ClaimsExpectation,
  type ClaimsFileEncoding,
  encodeClaimsText,
  generateClaims,
  loadReferenceSnapshot,
} from "./index.ts";

const USAGE = `usage: bun run gen:claims --rows N [--error-rate 0.05] [--encoding utf8|latin1] [--seed S]
                          [--out file.csv] [--today YYYY-MM-DD] [--delimiter ";"|","] [--reference dir]
  --rows        data lines to write (required)
  --error-rate  share of lines with exactly one injected error (default 0.05)
  --encoding    utf8 (default) or latin1 (Windows exports)
  --seed        same seed, same file (default 1)
  --out         the CSV file; <out>.expected.json is written beside it (default: stdout, expectation on stderr)
  --today       the date the engine will check against (default: today, local time)
  --delimiter   ";" (default, decimal comma) or ","
  --reference   directory of codes/contexts/establishments/rules CSVs (default services/dash/reference-data/seed)`;

function fail(message: string): never {
  console.error(`gen:claims: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function readOptions() {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: Bun.argv.slice(2),
      options: {
        rows: { type: "string" },
        "error-rate": { type: "string", default: "0.05" },
        encoding: { type: "string", default: "utf8" },
        seed: { type: "string", default: "1" },
        out: { type: "string" },
        today: { type: "string" },
        delimiter: { type: "string", default: ";" },
        reference: {
          type: "string",
          default: join(import.meta.dir, "../../../../services/dash/reference-data/seed"),
        },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const rows = Number(values.rows);
  const errorRate = Number(values["error-rate"]);
  const seed = Number(values.seed);
  const { encoding, delimiter, today, out, reference } = values as Record<string, string | undefined>;
  if (!Number.isSafeInteger(rows) || rows < 0) fail("--rows must be a whole number ≥ 0");
  if (!(errorRate >= 0 && errorRate <= 1)) fail("--error-rate must be between 0 and 1");
  if (!Number.isSafeInteger(seed)) fail("--seed must be a whole number");
  if (encoding !== "utf8" && encoding !== "latin1") fail("--encoding must be utf8 or latin1");
  if (delimiter !== ";" && delimiter !== ",") fail('--delimiter must be ";" or ","');
  if (today !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(today)) fail("--today must be YYYY-MM-DD");
  return {
    rows,
    errorRate,
    seed,
    encoding: encoding as ClaimsFileEncoding,
    delimiter: delimiter as ";" | ",",
    ...(today ? { today } : {}),
    out,
    reference: reference as string,
  };
}

const options = readOptions();
const reference = await loadReferenceSnapshot(options.reference);
const lines = generateClaims({ ...options, reference });
const fd = options.out ? openSync(options.out, "w") : 1;
const write = (text: string) => {
  const bytes = encodeClaimsText(text, options.encoding);
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
};

let batch = "";
let next = lines.next();
for (; !next.done; next = lines.next()) {
  batch += next.value;
  if (batch.length >= 1 << 16) {
    write(batch);
    batch = "";
  }
}
write(batch);
const expected: ClaimsExpectation & { encoding: string; total: number } = {
  ...next.value,
  encoding: options.encoding,
  total: Object.values(next.value.findings).reduce((a, b) => a + b, 0),
};
const json = `${JSON.stringify(expected, null, 2)}\n`;
if (options.out) {
  closeSync(fd);
  await Bun.write(`${options.out}.expected.json`, json);
  console.error(
    `gen:claims: wrote ${options.rows} lines to ${options.out}, expectation to ${options.out}.expected.json`,
  );
} else {
  console.error(json);
}
