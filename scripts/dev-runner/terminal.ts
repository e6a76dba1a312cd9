import { style, useColor } from "./output.ts";

// The runner's own lines (not a service's): colour decided once, from the terminal.

export const s = style(useColor());
export const out = (line = "") => process.stdout.write(`${line}\n`);
export const err = (line = "") => process.stderr.write(`${line}\n`);
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Prints the reason and exits 1: for what stops the runner before anything was started. */
export function fail(message: string): never {
  err(`${s.red("✗")} ${message}`);
  process.exit(1);
}
