import { createConnection, createServer } from "node:net";

type Probe = { free: true } | { free: false; code: string };

function tryListen(port: number, host: string): Promise<Probe> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => {
      resolve({ free: false, code: error.code ?? String(error) });
    });
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve({ free: true }));
    });
  });
}

function tryConnect(port: number, host: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    const done = (connected: boolean) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      resolve(connected);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Why a port can't be used, or null if it is free.
 * Tries to bind 127.0.0.1, 0.0.0.0 and :: (IPv6 may be unavailable: only "in use" counts there),
 * then tries to connect, which also catches listeners that share ports (SO_REUSEPORT).
 */
export async function portProblem(port: number): Promise<string | null> {
  for (const host of ["127.0.0.1", "0.0.0.0", "::"]) {
    const probe = await tryListen(port, host);
    if (probe.free) continue;
    if (probe.code === "EADDRINUSE") return "in use";
    if (probe.code === "EACCES") return "needs elevated privileges (EACCES)";
    if (host === "::") continue; // no IPv6 on this machine
    return `cannot be bound on ${host} (${probe.code})`;
  }
  if (await tryConnect(port, "127.0.0.1")) return "in use";
  return null;
}
