/** Command-line plumbing shared by the benchmark scripts: flags, `--only` sections, cleanup on Ctrl-C. */
import { parseArgs } from "node:util";

/** Prints `message` and the usage, then exits 2. */
export function usageError(usage: string, message: string): never {
  console.error(`error: ${message}\n\n${usage}`);
  process.exit(2);
}

/**
 * Parses the script's arguments: each of `flags` takes a string, -h/--help prints `usage` and exits 0,
 * anything else is a usage error.
 */
export function parseFlags<F extends string>(usage: string, flags: readonly F[]): Partial<Record<F, string>> {
  const options: Record<string, { type: "string" } | { type: "boolean"; short: string }> = {};
  for (const flag of flags) options[flag] = { type: "string" };
  options.help = { type: "boolean", short: "h" };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: Bun.argv.slice(2), options, strict: true }).values as typeof values;
  } catch (error) {
    usageError(usage, (error as Error).message);
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  return values as Partial<Record<F, string>>;
}

/** The sections named by `--only a,b` (all of them without it); an unknown or empty list is a usage error. */
export function parseOnly<S extends string>(
  usage: string,
  sections: readonly S[],
  only: string | undefined,
): S[] {
  const names = (only ?? sections.join(","))
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0 || names.some((s) => !sections.includes(s as S)))
    usageError(usage, `--only takes ${sections.join(", ")} (got ${only})`);
  return names as S[];
}

/** On the first SIGINT or SIGTERM: says `what` is being done, runs `cleanup`, exits 130. */
export function cleanupOnSignals(what: string, cleanup: () => Promise<unknown>): void {
  let interrupted = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      if (interrupted) return;
      interrupted = true;
      console.error(`\n${signal}: ${what}…`);
      void cleanup().finally(() => process.exit(130));
    });
}
