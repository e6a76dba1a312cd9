import { resolve } from "node:path";
import { natsPort } from "./nats.ts";
import { parseRestartPolicy, type RestartPolicy } from "./supervise.ts";
import { fail, out } from "./terminal.ts";

function usage(): string {
  return [
    "usage: bun run dev [--root <dir>]",
    "",
    'Starts every service whose package.json has "fig": { "port": <n> } with bun --watch.',
    "  --root <dir>   workspace root to run (or FIG_DEV_ROOT); default: this repository",
  ].join("\n");
}

/** `--root <dir>` (or FIG_DEV_ROOT), else the repository this runner is in; --help prints the usage. */
export function parseArgs(argv: string[], defaultRoot: string): { root: string } {
  let root = process.env.FIG_DEV_ROOT || defaultRoot;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "--help" || arg === "-h") {
      out(usage());
      process.exit(0);
    } else if (arg === "--root") {
      const value = argv[++i];
      if (!value) fail("--root needs a directory");
      root = value;
    } else if (arg.startsWith("--root=")) {
      root = arg.slice("--root=".length);
    } else {
      fail(`unknown argument ${JSON.stringify(arg)}\n\n${usage()}`);
    }
  }
  return { root: resolve(root) };
}

/** The runner's own settings from the environment (FIG_DEV_NATS_PORT, FIG_DEV_RESTART); a bad one stops it. */
export function readSettings(): { localNatsPort: number; restartPolicy: RestartPolicy } {
  const localNatsPort = natsPort(process.env.FIG_DEV_NATS_PORT);
  if (typeof localNatsPort === "string") fail(localNatsPort);
  const restartPolicy = parseRestartPolicy(process.env.FIG_DEV_RESTART);
  if (typeof restartPolicy === "string") fail(restartPolicy);
  return { localNatsPort, restartPolicy };
}
