/** How `bun run dev` finds NATS: NATS_URL, else a server already on the port, else `nats-server -js` from PATH. */
import { accessSync, constants } from "node:fs";
import { createConnection } from "node:net";

export const NATS_DEFAULT_PORT = 4222;
export const NATS_HOST = "127.0.0.1";

/** PATH may lack the sbin folders (Debian installs nats-server in /usr/sbin). */
const FALLBACK_PATHS = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server", "/usr/local/sbin/nats-server"];

export const NATS_INSTALL_HINT = [
  "Install nats-server (Debian/Ubuntu: `sudo apt-get install nats-server`; elsewhere: a release from",
  "https://github.com/nats-io/nats-server/releases), or set NATS_URL to a running server.",
].join("\n");

/** The port FIG_DEV_NATS_PORT names (default 4222), or an error message. */
export function natsPort(value: string | undefined): number | string {
  if (value === undefined || value.trim() === "") return NATS_DEFAULT_PORT;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return `FIG_DEV_NATS_PORT must be a whole number between 1 and 65535 (got ${JSON.stringify(value)})`;
  }
  return port;
}

/** Absolute path of nats-server from PATH or the usual install folders, or null. */
export function findNatsServer(
  which: (cmd: string) => string | null = (cmd) => Bun.which(cmd),
  fallbacks: readonly string[] = FALLBACK_PATHS,
): string | null {
  const onPath = which("nats-server");
  if (onPath) return onPath;
  for (const candidate of fallbacks) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return null;
}

/**
 * True when a NATS server answers on host:port: it sends an `INFO {…}` line as soon as a client connects.
 * Anything else (refused, silent, another protocol) is false.
 */
export function answersNats(port: number, host = NATS_HOST, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    let received = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.includes("\n") || received.length >= 5) {
        done(/^INFO[ \t]/.test(received));
      }
    });
    socket.once("error", () => done(false));
    socket.once("end", () => done(false));
  });
}

/** NATS_URL for display: scheme, host and port of each server, never credentials. */
export function describeNatsUrl(url: string): string {
  const parts = url
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => {
      try {
        const u = new URL(part.includes("://") ? part : `nats://${part}`);
        return `${u.protocol}//${u.host}`;
      } catch {
        return null;
      }
    });
  if (parts.length === 0 || parts.some((p) => p === null)) return "NATS_URL (set)";
  return `NATS_URL ${parts.join(",")}`;
}
