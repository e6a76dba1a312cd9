import type { Logger } from "pino";
import type { Lifecycle } from "./create-app.ts";

export type ServeOptions = {
  fetch: (request: Request) => Response | Promise<Response>;
  port: number;
  hostname?: string;
  logger: Logger;
  lifecycle: Lifecycle;
  /**
   * The whole grace period, from the signal to exit: in-flight requests get at most half of it, `onShutdown`
   * the rest (it receives the deadline). Past it the process exits 1, whatever is still running.
   */
  shutdownTimeoutMs?: number;
  /**
   * The largest request body accepted, in bytes (Bun's own default is 128 MiB, below the 200 MB uploads
   * Fig takes; a larger body is refused with 413 before any handler runs).
   */
  maxRequestBodyBytes?: number;
  /** Seconds a connection may stay silent before the server closes it (Bun's default is 10; max 255). */
  idleTimeoutSeconds?: number;
  /**
   * SO_REUSEPORT (Linux): several processes listen on the same port and the kernel spreads new connections
   * over them (a gateway running N processes on one host). Elsewhere Bun ignores it.
   */
  reusePort?: boolean;
  /** Runs after in-flight requests finished (or their share of the grace period passed); `deadline` is epoch ms. */
  onShutdown?: (options: { deadline: number }) => Promise<void>;
  /** Called instead of `process.exit` (tests). */
  exit?: (code: number) => void;
};

/**
 * Listens with Bun.serve and shuts down gracefully on SIGTERM/SIGINT: report not-ready, stop accepting,
 * let in-flight requests finish (bounded), run `onShutdown`, exit 0.
 */
export function serveApp({
  fetch,
  port,
  hostname = "0.0.0.0",
  logger,
  lifecycle,
  shutdownTimeoutMs = 10_000,
  idleTimeoutSeconds = 60,
  maxRequestBodyBytes = 128 * 1024 * 1024,
  reusePort = false,
  onShutdown = async () => {},
  exit = (code) => process.exit(code),
}: ServeOptions) {
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      port,
      hostname,
      fetch,
      idleTimeout: idleTimeoutSeconds,
      maxRequestBodySize: maxRequestBodyBytes,
      reusePort,
    });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message =
      code === "EADDRINUSE"
        ? `Port ${port} is already in use: is another copy running? (lsof -i :${port})`
        : `Cannot listen on ${hostname}:${port}: ${(error as Error).message}`;
    logger.fatal(message);
    exit(1);
    throw error;
  }
  let stopping: Promise<void> | undefined;

  async function shutdown(signal: string) {
    if (stopping) return stopping;
    const deadline = Date.now() + shutdownTimeoutMs;
    // A backstop: whatever hangs (a stop that never settles, a stuck socket), the process ends in its grace period.
    const backstop = setTimeout(() => {
      logger.error(
        { timeoutMs: shutdownTimeoutMs },
        "did not stop within the shutdown grace period; exiting",
      );
      exit(1);
    }, shutdownTimeoutMs + 250);
    backstop.unref?.();
    stopping = (async () => {
      logger.info({ signal }, "shutting down: draining in-flight requests");
      lifecycle.draining = true;
      const drainMs = Math.floor(shutdownTimeoutMs / 2);
      const drained = server.stop(false).then(() => "drained" as const);
      const timedOut = Bun.sleep(drainMs).then(() => "timeout" as const);
      if ((await Promise.race([drained, timedOut])) === "timeout") {
        logger.warn({ timeoutMs: drainMs }, "in-flight requests did not finish in time; closing them");
        await server.stop(true);
      }
      try {
        await onShutdown({ deadline });
        logger.info("stopped");
        clearTimeout(backstop);
        exit(0);
      } catch (error) {
        logger.error({ err: error }, "error during shutdown");
        clearTimeout(backstop);
        exit(1);
      }
    })();
    return stopping;
  }

  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  logger.info(
    { url: `http://${hostname === "0.0.0.0" ? "localhost" : hostname}:${server.port}` },
    "listening",
  );
  return { server, port: server.port as number, shutdown };
}
