import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, relative } from "node:path";

/**
 * A service `bun run dev` starts: one per workspace folder whose package.json has a `"fig": { "port": n }`
 * field, named after its folder (services/gateway → gateway; a service in a group folder, one level down, too).
 */
export interface DevService {
  name: string;
  port: number;
  /** the service's folder (absolute), e.g. services/gateway */
  dir: string;
  /** <dir>/src/main.ts (absolute) */
  main: string;
}

export class DiscoveryError extends Error {}

/** The workspace globs a root without a package.json (or without `workspaces`) is read with. */
const DEFAULT_WORKSPACES = ["packages/*", "services/*"];

/**
 * The folders the root package.json's `workspaces` globs match that hold a package.json (absolute, sorted), as
 * Bun resolves them: a matched folder without one (a group folder, which only holds workspaces) is not a
 * workspace.
 */
export function workspaceFolders(root: string): string[] {
  let patterns = DEFAULT_WORKSPACES;
  const rootManifest = join(root, "package.json");
  if (existsSync(rootManifest)) {
    const { workspaces } = JSON.parse(readFileSync(rootManifest, "utf8")) as {
      workspaces?: string[] | { packages?: string[] };
    };
    const declared = Array.isArray(workspaces) ? workspaces : workspaces?.packages;
    if (declared) patterns = declared;
  }
  const folders = new Set<string>();
  for (const pattern of patterns) {
    const glob = new Bun.Glob(`${pattern.replace(/\/+$/, "")}/package.json`);
    for (const manifest of glob.scanSync({ cwd: root, onlyFiles: true }))
      folders.add(dirname(join(root, manifest)));
  }
  return [...folders].sort();
}

/** Reads each workspace's package.json under root; returns the services that declare fig.port, sorted by port. */
export function discoverServices(root: string): DevService[] {
  if (!existsSync(join(root, "services"))) {
    throw new DiscoveryError(`no services/ folder under ${root}`);
  }
  const found: DevService[] = [];
  for (const dir of workspaceFolders(root)) {
    const name = basename(dir);
    const pkgPath = join(dir, "package.json");
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
        `service "${name}" declares fig.port ${port} but has no entry point at ${relative(root, main)}`,
      );
    }
    const twin = found.find((other) => other.name === name);
    if (twin) {
      throw new DiscoveryError(
        `${relative(root, twin.dir)} and ${relative(root, dir)} are both named "${name}" (a service is named after its folder)`,
      );
    }
    found.push({ name, port, dir, main });
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
