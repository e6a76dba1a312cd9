/**
 * billing benchmarks: the claims parser and rule engine on generated files. Prints, for each size:
 *
 *   a. generate — gen:claims' core writing the CSV to a temp file (UTF-8, 5% errors): lines/s.
 *   b. parse    — parseClaims over Bun.file(…).stream(): lines/s, CPU seconds, peak RSS (VmHWM).
 *   c. check    — parseClaims + createRuleEngine (all 14 rules): lines/s, CPU seconds, peak RSS; and whether
 *                 the findings per rule equal the generator's expectation exactly.
 *
 * b and c run in a fresh child process each, so peak RSS is theirs alone (Bun's runtime is ~40 MiB of it);
 * "live" is the RSS after a full GC at the end: what the run really keeps (the rules' per-key tables).
 * Nothing is asserted about speed; the exit code is non-zero only when the findings do not match.
 *
 * Usage (from the repository root): bun bench/billing.ts [--rows 1000000] [--encoding utf8|latin1]
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  type ClaimsExpectation,
  type ClaimsFileEncoding,
  createRuleEngine,
  encodeClaimsText,
  generateClaims,
  loadReferenceSnapshot,
  parseClaims,
} from "../packages/dash/billing/src/index.ts";
import { heading, int, kv, line, mib, seconds, table } from "./lib/report.ts";

const ROOT = resolve(import.meta.dir, "..");
const SEED = join(ROOT, "services/dash/reference-data/seed");
const TODAY = "2025-06-01";
type ChildResult = {
  rules: number;
  rows: number;
  wallS: number;
  cpuS: number;
  peakRss: number;
  liveRss: number;
  findings: Record<string, number>;
};

/** In a child: parse (and check) one file, then report on stdout as JSON. */
async function child(mode: "parse" | "check", file: string): Promise<void> {
  const reference = await loadReferenceSnapshot(SEED);
  const engine = mode === "check" ? createRuleEngine(reference, { today: TODAY }) : undefined;
  const findings: Record<string, number> = {};
  const count = (ruleId: string) => {
    findings[ruleId] = (findings[ruleId] ?? 0) + 1;
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let rows = 0;
  for await (const parsed of parseClaims(Bun.file(file).stream())) {
    rows++;
    for (const f of parsed.findings) count(f.ruleId);
    if (engine) for (const f of engine.check(parsed)) count(f.ruleId);
  }
  if (engine) for (const f of engine.finish()) count(f.ruleId);
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const hwm = readFileSync("/proc/self/status", "utf8").match(/^VmHWM:\s+(\d+) kB/m);
  Bun.gc(true); // the engine is still referenced below, so its per-key tables count as live
  const result: ChildResult = {
    rules: engine?.active.length ?? 0,
    rows,
    wallS,
    cpuS: (cpu.user + cpu.system) / 1e6,
    peakRss: Number(hwm?.[1] ?? 0) * 1024,
    liveRss: process.memoryUsage().rss,
    findings,
  };
  console.log(JSON.stringify(result));
}

function runChild(mode: "parse" | "check", file: string): ChildResult {
  const proc = Bun.spawnSync(["bun", import.meta.path, "--child", mode, "--file", file], {
    stderr: "inherit",
  });
  if (proc.exitCode !== 0) throw new Error(`${mode} child exited with ${proc.exitCode}`);
  return JSON.parse(proc.stdout.toString());
}

async function generate(file: string, rows: number, encoding: ClaimsFileEncoding) {
  const reference = await loadReferenceSnapshot(SEED);
  const t0 = performance.now();
  const fd = openSync(file, "w");
  const lines = generateClaims({ reference, rows, seed: 1, today: TODAY, errorRate: 0.05 });
  let batch = "";
  let next = lines.next();
  for (; !next.done; next = lines.next()) {
    batch += next.value;
    if (batch.length >= 1 << 16) {
      writeSync(fd, encodeClaimsText(batch, encoding));
      batch = "";
    }
  }
  writeSync(fd, encodeClaimsText(batch, encoding));
  closeSync(fd);
  return { expected: next.value as ClaimsExpectation, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      rows: { type: "string", default: "1000000" },
      encoding: { type: "string", default: "utf8" },
      child: { type: "string" },
      file: { type: "string" },
    },
    strict: true,
  });
  if (values.child) {
    await child(values.child as "parse" | "check", values.file as string);
    return 0;
  }
  const rows = Number(values.rows);
  const encoding = values.encoding as ClaimsFileEncoding;
  const dir = mkdtempSync(join(tmpdir(), "fig-bench-billing-"));
  let failed = false;
  try {
    heading(`billing: parser + rule engine (${encoding}, today ${TODAY})`);
    const report: string[][] = [["lines", "step", "lines/s", "wall", "CPU", "peak RSS", "live RSS", "file"]];
    for (const size of [Math.max(1, Math.round(rows / 10)), rows]) {
      const file = join(dir, `claims-${size}.csv`);
      const gen = await generate(file, size, encoding);
      const fileMiB = mib(Bun.file(file).size);
      report.push([
        int(size),
        "generate",
        int(size / gen.seconds),
        seconds(gen.seconds),
        "",
        "",
        "",
        fileMiB,
      ]);
      for (const mode of ["parse", "check"] as const) {
        const r = runChild(mode, file);
        const figures = [
          int(r.rows / r.wallS),
          seconds(r.wallS),
          seconds(r.cpuS),
          mib(r.peakRss),
          mib(r.liveRss),
        ];
        report.push([int(size), mode, ...figures, ""]);
        if (
          mode === "check" &&
          JSON.stringify(sorted(r.findings)) !== JSON.stringify(sorted(gen.expected.findings))
        ) {
          failed = true;
          line(`  ✗ CHECK FAILED at ${size} lines: findings ${JSON.stringify(r.findings)}`);
          line(`    expected ${JSON.stringify(gen.expected.findings)}`);
        }
      }
    }
    line(table(report));
    line();
    kv("findings match the generator", failed ? "NO" : "yes, exactly (per rule)");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return failed ? 1 : 0;
}

const sorted = (o: Record<string, number>) => Object.entries(o).sort(([a], [b]) => a.localeCompare(b));

process.exit(await main());
