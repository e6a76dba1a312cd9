import { answersNats, NATS_HOST, NATS_INSTALL_HINT } from "./nats.ts";
import { NATS_DATA_DIR } from "./nats-plan.ts";
import { colorFor, makePrefix, pipeLines } from "./output.ts";
import type { NatsChild, Processes } from "./processes.ts";
import { err, out, s, sleep } from "./terminal.ts";

const NATS_START_TIMEOUT_MS = 15_000;

export type NatsStart = {
  root: string;
  /** The nats-server binary found on PATH. */
  bin: string;
  url: string;
  port: number;
  /** Prefix width and colour index: nats's lines read like a service's. */
  width: number;
  colorIndex: number;
  /** Stops the runner (a nats-server that cannot start). */
  stop: (code: number) => Promise<void>;
};

/**
 * Starts `nats-server -js` in its own process group (only this runner signals it, after the services have
 * stopped) and waits until it answers. false: it did not (the runner is stopping), true: it is up.
 */
export async function startNatsServer(processes: Processes, o: NatsStart): Promise<boolean> {
  const prefix = makePrefix("nats", o.width, colorFor(o.colorIndex), s);
  const local = `${NATS_HOST}:${o.port}`;
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn([o.bin, "-js", "-a", NATS_HOST, "-p", String(o.port), "-sd", NATS_DATA_DIR], {
      cwd: o.root,
      env: process.env,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      detached: true,
    });
  } catch (error) {
    err(`${s.red("✗")} cannot start ${o.bin}: ${(error as Error).message}`);
    err(`  ${NATS_INSTALL_HINT.replace(/\n/g, "\n  ")}`);
    await o.stop(1);
    return false;
  }
  const drained = Promise.all([
    pipeLines(proc.stdout, prefix, (t) => process.stdout.write(t)),
    pipeLines(proc.stderr, prefix, (t) => process.stderr.write(t)),
  ]).then(() => {});
  const child: NatsChild = { proc, exited: false, drained };
  processes.nats = child;
  let natsUp = false;
  void proc.exited.then(async () => {
    child.exited = true;
    if (processes.stopping || !natsUp) return;
    await Promise.race([drained, sleep(500)]);
    if (processes.stopping) return;
    const how = proc.signalCode ? `signal ${proc.signalCode}` : `code ${proc.exitCode}`;
    err(
      `${s.yellow("!")} nats-server exited with ${how}; the services keep running, ` +
        "but /ready reports NATS failing until it is back.",
    );
  });

  const deadline = Date.now() + NATS_START_TIMEOUT_MS;
  while (!processes.stopping && !child.exited && Date.now() < deadline) {
    if (await answersNats(o.port, NATS_HOST, 500)) {
      natsUp = true;
      break;
    }
    await sleep(100);
  }
  if (processes.stopping) return false;
  if (!natsUp) {
    await Promise.race([drained, sleep(child.exited ? 500 : 0)]);
    const why = child.exited
      ? `exited with ${proc.signalCode ? `signal ${proc.signalCode}` : `code ${proc.exitCode}`}`
      : `did not answer on ${local} within ${NATS_START_TIMEOUT_MS / 1000} s`;
    err(`${s.red("✗")} nats-server ${why}; its output is above, prefixed "nats".`);
    err("  Set NATS_URL to use another NATS server, or FIG_DEV_NATS_PORT to use another port.");
    await o.stop(1);
    return false;
  }
  out(`${s.green("✓")} ${s.bold("nats")} ready  ${o.url}  ${s.dim(`(pid ${proc.pid}, stopped with dev)`)}`);
  return true;
}
