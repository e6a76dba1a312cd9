import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

/** A service `bun run dev` starts: one per `services/<name>/package.json` with a `"fig": { "port": n }` field. */
export interface DevService {
  name: string;
  port: number;
  /** services/<name> (absolute) */
  dir: string;
  /** services/<name>/src/main.ts (absolute) */
  main: string;
}

export class DiscoveryError extends Error {}

/** Reads services/*\/package.json under root; returns the services that declare fig.port, sorted by port. */
export function discoverServices(root: string): DevService[] {
  const servicesDir = join(root, "services");
  if (!existsSync(servicesDir)) {
    throw new DiscoveryError(`no services/ folder under ${root}`);
  }
  const found: DevService[] = [];
  for (const entry of readdirSync(servicesDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const dir = join(servicesDir, entry.name);
    const pkgPath = join(dir, "package.json");
    if (!existsSync(pkgPath)) continue;
    let pkg: unknown;
    try {
      pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
    } catch (error) {
      throw new DiscoveryError(`${relative(root, pkgPath)} is not valid JSON: ${(error as Error).message}`);
    }
    const fig = (pkg as { fig?: { port?: unknown } } | null)?.fig;
    if (fig === undefined || fig === null) continue;
    const port = fig.port;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new DiscoveryError(
        `${relative(root, pkgPath)}: "fig.port" must be a whole number between 1 and 65535 (got ${JSON.stringify(port)})`,
      );
    }
    const main = join(dir, "src", "main.ts");
    if (!existsSync(main)) {
      throw new DiscoveryError(
        `service "${entry.name}" declares fig.port ${port} but has no entry point at ${relative(root, main)}`,
      );
    }
    found.push({ name: entry.name, port, dir, main });
  }
  found.sort((a, b) => a.port - b.port || a.name.localeCompare(b.name));
  for (let i = 1; i < found.length; i++) {
    const a = found[i - 1];
    const b = found[i];
    if (a && b && a.port === b.port) {
      throw new DiscoveryError(`services "${a.name}" and "${b.name}" both declare fig.port ${a.port}`);
    }
  }
  return found;
}
