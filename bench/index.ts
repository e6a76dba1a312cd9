/**
 * Runs every benchmark script in bench/ (each `bench/*.ts` except this file and `*.d.ts`; helpers live in
 * bench/lib/), one after the other, from the repository root. Leading names pick scripts; every other
 * argument is passed through to each script that runs.
 *
 *   bun bench/index.ts                                   # every script
 *   bun bench/index.ts --duration 5                      # flags go to every script
 *   bun bench/index.ts reference-data --only cold        # just bench/reference-data.ts, with its flags
 *   bun bench/index.ts gateway --only ratio --rounds 5    # the gateway against nginx/haproxy (needs wrk)
 *
 * Scripts print their figures; goals are never asserted. The exit code is non-zero when a script failed
 * (could not run, or a correctness check in it failed), after all scripts have run.
 */
import { basename, join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");
const available = [...new Bun.Glob("*.ts").scanSync({ cwd: import.meta.dir })]
  .filter((name) => name !== basename(import.meta.path) && !name.endsWith(".d.ts"))
  .sort();

const argv = Bun.argv.slice(2);
const firstFlag = argv.findIndex((arg) => arg.startsWith("-"));
const names = firstFlag === -1 ? argv : argv.slice(0, firstFlag);
const args = firstFlag === -1 ? [] : argv.slice(firstFlag);
const unknown = names.filter((n) => !available.includes(n.endsWith(".ts") ? n : `${n}.ts`));
if (unknown.length > 0) {
  console.error(`bench: no bench/${unknown[0]}(.ts); scripts: ${available.join(", ") || "none"}`);
  process.exit(2);
}
const scripts = names.length ? names.map((n) => (n.endsWith(".ts") ? n : `${n}.ts`)) : available;
if (scripts.length === 0) {
  console.error("bench: no benchmark scripts in bench/");
  process.exit(1);
}

let current: Bun.Subprocess | undefined;
// Ctrl-C reaches the child too (same process group); wait for it to clean up instead of dying first.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => current?.kill(signal));

const failed: string[] = [];
for (const name of scripts) {
  console.log(`\n▶ bun bench/${name}${args.length ? ` ${args.join(" ")}` : ""}`);
  current = Bun.spawn(["bun", join("bench", name), ...args], {
    cwd: ROOT,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  });
  const code = await current.exited;
  current = undefined;
  if (code !== 0) failed.push(`${name} (exit ${code})`);
}

console.log(
  failed.length === 0
    ? `\nbench: ${scripts.length} script(s) ran: ${scripts.join(", ")}`
    : `\nbench: failed: ${failed.join(", ")}`,
);
process.exit(failed.length === 0 ? 0 : 1);
