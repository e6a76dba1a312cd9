/**
 * `bun run gate <script> [--base-url U] [--token T] [--pin upstream] [--vus N] [--duration D]
 *   [--summary-export file] [--engine auto|k6|builtin] [-e KEY=VALUE]... [--quiet]`
 *
 * Exit codes: 0 pass · 99 a threshold failed (k6's own code) · 98 inconclusive (a threshold had no data, or the
 * script has none) · 104 invalid options/thresholds · 107 the script threw while loading · 2 usage.
 */
import { parseArgs } from "node:util";
import type { Progress } from "./builtin.ts";
import { formatDuration } from "./duration.ts";
import { type EngineChoice, exitCodeForError, runGate } from "./gate.ts";
import { EXIT_CODES } from "./thresholds.ts";

const USAGE = `usage: bun run gate <script.js> [--base-url URL] [--token JWT] [--pin UPSTREAM] [--vus N] [--duration D]
                     [--summary-export FILE] [--engine auto|k6|builtin] [-e KEY=VALUE]... [--quiet]

  Runs a k6 script (real k6 when on PATH, else the builtin engine under Bun) and decides it by its thresholds.
  exit 0 pass · 99 a threshold failed · 98 inconclusive (no data) · 104 invalid config · 107 script error`;

function usage(message?: string): never {
  if (message) console.error(`gate: ${message}`);
  console.error(USAGE);
  process.exit(EXIT_CODES.usage);
}

function progressLine(p: Progress): string {
  const p95 = p.p95 === null ? "–" : formatDuration(p.p95);
  const errors = p.errorRate === null ? "–" : `${(p.errorRate * 100).toFixed(2)}%`;
  return `  ${formatDuration(p.elapsedMs).padStart(6)}  requests ${p.requests}  p95 ${p95}  errors ${errors}  vus ${p.vus}`;
}

async function main() {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: Bun.argv.slice(2),
      allowPositionals: true,
      options: {
        "base-url": { type: "string" },
        token: { type: "string" },
        pin: { type: "string" },
        vus: { type: "string" },
        duration: { type: "string" },
        "summary-export": { type: "string" },
        engine: { type: "string" },
        env: { type: "string", short: "e", multiple: true },
        quiet: { type: "boolean", short: "q" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    usage((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) usage("give exactly one script");
  const script = positionals[0] as string;
  if (!(await Bun.file(script).exists())) usage(`no such script: ${script}`);
  const engine = (values.engine as string | undefined) ?? "auto";
  if (!["auto", "k6", "builtin"].includes(engine))
    usage(`--engine must be auto, k6 or builtin, not ${engine}`);
  let vus: number | undefined;
  if (values.vus !== undefined) {
    vus = Number(values.vus);
    if (!Number.isInteger(vus) || vus < 1) usage(`--vus must be a positive integer, not ${values.vus}`);
  }
  const env: Record<string, string> = {};
  for (const pair of (values.env as string[] | undefined) ?? []) {
    const eq = pair.indexOf("=");
    if (eq < 1) usage(`-e takes KEY=VALUE, not ${pair}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }

  const stop = new AbortController();
  process.on("SIGINT", () => {
    if (stop.signal.aborted) process.exit(130);
    console.error("\ngate: stopping (Ctrl-C again to quit without a summary)");
    stop.abort();
  });
  const quiet = values.quiet === true;
  const tty = process.stderr.isTTY;
  try {
    const result = await runGate({
      script,
      baseUrl: values["base-url"] as string | undefined,
      token: values.token as string | undefined,
      pin: values.pin as string | undefined,
      vus,
      duration: values.duration as string | undefined,
      env,
      engine: engine as EngineChoice,
      summaryExport: values["summary-export"] as string | undefined,
      signal: stop.signal,
      onProgress: quiet
        ? undefined
        : (p) => process.stderr.write(tty ? `\r${progressLine(p)}\x1b[K` : `${progressLine(p)}\n`),
    });
    if (!quiet && tty) process.stderr.write("\n");
    console.log(`\n${result.text}\n`);
    return result.exitCode;
  } catch (err) {
    const code = exitCodeForError(err);
    console.error(`gate: ${(err as Error)?.message ?? String(err)}`);
    return code ?? 1;
  }
}

process.exit(await main());
