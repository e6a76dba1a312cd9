/**
 * compose.yaml edits for a new service, made on the text so every comment and layout choice stays as written:
 * the service's entry at the end of `services:`, its database in the postgres init script, and its URL and
 * start order in the gateway's entry. Each edit finds its anchor or says which one it could not find.
 */

export type ComposeService = {
  name: string;
  /** The rendered entry (two-space indented, as under `services:`). */
  entry: string;
  /** Its Postgres database, or undefined without one. */
  database: string | undefined;
  /** The gateway's variable for its URL and the URL inside the compose network. */
  urlVariable: string;
  url: string;
};

import { blockOf } from "./yaml-text.ts";

export class ComposeEditError extends Error {}

/** The compose file with `service` added; throws ComposeEditError naming what it could not find. */
export function addComposeService(text: string, service: ComposeService): string {
  const lines = text.split("\n");
  const services = blockOf(lines, /^services:\s*(#.*)?$/, 0);
  if (!services) throw new ComposeEditError("compose.yaml has no top-level `services:`");
  if (blockOf(lines, new RegExp(`^  ${service.name}:\\s*(#.*)?$`), 2, services.start, services.end))
    throw new ComposeEditError(`compose.yaml already has a service "${service.name}"`);

  // Later edits first, so earlier line numbers stay right.
  if (service.database) addDatabase(lines, service.database);
  const entry = service.entry.replace(/\n+$/, "").split("\n");
  lines.splice(services.end, 0, "", ...entry);
  addToGateway(lines, service);
  return lines.join("\n");
}

function addDatabase(lines: string[], database: string) {
  const configs = blockOf(lines, /^configs:\s*(#.*)?$/, 0);
  const init = configs && blockOf(lines, /^ {2}postgres-databases:/, 2, configs.start, configs.end);
  const creates = init
    ? lines.map((line, i) => ({ line, i })).filter(({ i }) => i >= init.start && i < init.end)
    : [];
  const last = creates.filter(({ line }) => /^\s+CREATE DATABASE /.test(line)).at(-1);
  if (!last)
    throw new ComposeEditError(
      "compose.yaml has no `CREATE DATABASE` line under configs.postgres-databases to add the database after",
    );
  const indent = last.line.slice(0, last.line.length - last.line.trimStart().length);
  if (creates.some(({ line }) => line.trim() === `CREATE DATABASE ${database};`))
    throw new ComposeEditError(`compose.yaml already creates the database ${database}`);
  lines.splice(last.i + 1, 0, `${indent}CREATE DATABASE ${database};`);
}

function addToGateway(lines: string[], service: ComposeService) {
  const services = blockOf(lines, /^services:\s*(#.*)?$/, 0);
  const gateway = services && blockOf(lines, /^ {2}gateway:\s*(#.*)?$/, 2, services.start, services.end);
  if (!gateway) return; // A stack without the gateway: nothing routes to the service there.
  const dependsOn = blockOf(lines, /^ {4}depends_on:\s*$/, 4, gateway.start, gateway.end);
  if (dependsOn) {
    lines.splice(dependsOn.end, 0, `      ${service.name}:`, "        condition: service_started");
  }
  const environment = blockOf(lines, /^ {4}environment:\s*$/, 4, gateway.start, gateway.end);
  if (!environment) throw new ComposeEditError("compose.yaml's gateway has no `environment:` for the URL");
  const urls = lines
    .slice(environment.start + 1, environment.end)
    .map((line, i) => ({ line, i: i + environment.start + 1 }))
    .filter(({ line }) => /^ {6}[A-Z0-9_]+_URL:/.test(line));
  const after = urls.at(-1)?.i ?? environment.start;
  lines.splice(after + 1, 0, `      ${service.urlVariable}: ${service.url}`);
}
