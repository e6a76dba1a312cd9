import { answersNats, describeNatsUrl, findNatsServer, NATS_HOST, NATS_INSTALL_HINT } from "./nats.ts";
import { releasePidFile } from "./pidfile.ts";
import { portProblem } from "./ports.ts";
import { err, out, s } from "./terminal.ts";

export const NATS_DATA_DIR = ".data/nats"; // relative to the workspace root, nats-server's cwd

/** Where the services' NATS comes from; `missing` means none: they start anyway, not ready. */
export type NatsPlan =
  | { kind: "env"; url: string }
  | { kind: "running"; url: string }
  | { kind: "spawn"; url: string; bin: string }
  | { kind: "missing"; url: string }
  | { kind: "blocked"; url: string; problem: string };

/** NATS_URL, else a server already answering on the local port, else nats-server from PATH, else none. */
export async function planNats(port: number): Promise<NatsPlan> {
  const envUrl = process.env.NATS_URL?.trim();
  if (envUrl) return { kind: "env", url: envUrl };
  const url = `nats://${NATS_HOST}:${port}`;
  if (await answersNats(port)) return { kind: "running", url };
  const problem = await portProblem(port);
  if (problem !== null) return { kind: "blocked", url, problem };
  const bin = findNatsServer();
  return bin ? { kind: "spawn", url, bin } : { kind: "missing", url };
}

/** The plan's line; a port held by something that is not NATS stops the runner. */
export function printNatsPlan(plan: NatsPlan, localNatsPort: number, pidFile: string): void {
  const local = `${NATS_HOST}:${localNatsPort}`;
  switch (plan.kind) {
    case "env":
      out(`  nats      ${describeNatsUrl(plan.url)}`);
      break;
    case "running":
      out(`  nats      reusing the NATS server already running on ${local}`);
      break;
    case "spawn":
      out(`  nats      starting ${plan.bin} -js on ${local} (data in ${NATS_DATA_DIR})`);
      break;
    case "blocked":
      err(
        `${s.red("✗")} NATS: port ${localNatsPort} ${plan.problem}, but what holds it does not answer as NATS.\n` +
          `  Find it with \`lsof -i :${localNatsPort}\`, or set NATS_URL to a NATS server ` +
          "(or FIG_DEV_NATS_PORT to a free port).",
      );
      releasePidFile(pidFile);
      process.exit(1);
      break;
    case "missing":
      out(`  nats      none (nothing answers on ${local}; nats-server not found)`);
      err(`${s.yellow("!")} NATS: nothing answers on ${local} and nats-server is not installed.`);
      err(`  ${NATS_INSTALL_HINT.replace(/\n/g, "\n  ")}`);
      err(
        "  Starting the services without NATS: their writes wait in the outbox, and /ready stays 503 " +
          "until NATS is reachable.",
      );
      break;
  }
}

/** How the summary line names the services' NATS. */
export function describeNatsPlan(plan: NatsPlan, localNatsPort: number): string {
  const local = `${NATS_HOST}:${localNatsPort}`;
  if (plan.kind === "missing") return `no NATS: /ready stays 503 until NATS is reachable on ${local}`;
  if (plan.kind === "env") return describeNatsUrl(plan.url);
  if (plan.kind === "running") return `NATS on ${local} (already running)`;
  return `nats-server on ${local}`;
}
