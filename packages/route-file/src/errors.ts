/** One mistake in a route file: where (`routes[1].backendRefs[0].name`) and why; `line` when it is known. */
export type RouteFileIssue = { path: string; reason: string; line?: number };

/** `["routes", 1, "backendRefs", 0, "name"]` → `routes[1].backendRefs[0].name`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out === "" ? String(key) : `.${String(key)}`;
  }
  return out || "(file)";
}

/** `path: reason`, one per line, as `bun run fig routes check` prints them. */
export function formatIssues(issues: readonly RouteFileIssue[]): string {
  return issues.map((i) => `${i.path}: ${i.reason}${i.line ? ` (line ${i.line})` : ""}`).join("\n");
}

/**
 * A route file that cannot be served: every mistake found at once, each with its field path and the reason.
 *
 * @example
 * try { loadRouteFile({ file, env }) } catch (e) { if (e instanceof RouteFileError) console.error(e.message) }
 */
export class RouteFileError extends Error {
  readonly issues: RouteFileIssue[];
  readonly file: string | undefined;

  constructor(issues: RouteFileIssue[], file?: string) {
    super(`${file ?? "route file"}: ${issues.length} error(s)\n${formatIssues(issues)}`);
    this.name = "RouteFileError";
    this.issues = issues;
    this.file = file;
  }
}
