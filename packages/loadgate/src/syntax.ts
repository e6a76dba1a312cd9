/**
 * The syntax a k6 script may use: ES2017 and ES modules. k6 before v0.53 turns ES modules into CommonJS with
 * Babel, which stops at newer syntax (object spread, `?.`, `??`); v0.53 made ES modules native. The builtin
 * engine holds scripts to the older rule, so a gate that runs here cannot fail to load on a team's k6.
 */
import { readFileSync } from "node:fs";
import { dirname, relative, resolve } from "node:path";
import { type Node, parse } from "acorn";

/** What acorn is held to: the newest syntax every k6 from v0.43 on parses. */
export const K6_SYNTAX = { ecmaVersion: 2017, sourceType: "module" } as const;

/** A script (or a module it imports) uses syntax older k6 cannot parse; the message starts `file:line:col`. */
export class K6SyntaxError extends Error {
  override name = "K6SyntaxError";
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly reason: string,
  ) {
    super(
      `${file}:${line}:${column}: ${reason} (k6 scripts are ES2017 + ES modules: no object spread, ?. or ??, which k6 before v0.53 cannot parse)`,
    );
  }
}

type ImportNode = Node & { type: string; source?: { value: unknown } | null };

/**
 * The first syntax error of one source text, or null. `file` names it in the message.
 *
 * @example
 * k6SyntaxError("const a = b?.c;", "x.js")?.message; // "x.js:1:13: Unexpected token (…)"
 */
export function k6SyntaxError(source: string, file: string): K6SyntaxError | null {
  try {
    parse(source, { ...K6_SYNTAX, locations: true });
    return null;
  } catch (error) {
    const loc = (error as { loc?: { line: number; column: number } }).loc;
    if (!loc) throw error;
    const reason = (error as Error).message.replace(/\s*\(\d+:\d+\)$/, "");
    return new K6SyntaxError(file, loc.line, loc.column + 1, reason);
  }
}

/** Relative imports of a parsed module (k6's own modules and URLs are not files to check). */
function localImports(source: string): string[] {
  const program = parse(source, K6_SYNTAX) as unknown as { body: ImportNode[] };
  const out: string[] = [];
  for (const node of program.body) {
    const from = node.source?.value;
    if (
      (node.type === "ImportDeclaration" ||
        node.type === "ExportNamedDeclaration" ||
        node.type === "ExportAllDeclaration") &&
      typeof from === "string" &&
      (from.startsWith("./") || from.startsWith("../"))
    )
      out.push(from);
  }
  return out;
}

/**
 * Throws K6SyntaxError for the first file, the script or a module it imports by relative path, that k6 before
 * v0.53 could not parse. Paths in the message are relative to the working directory.
 */
export function assertK6Syntax(script: string, seen = new Set<string>()): void {
  const path = resolve(script);
  if (seen.has(path)) return;
  seen.add(path);
  const source = readFileSync(path, "utf8");
  const error = k6SyntaxError(source, relative(process.cwd(), path) || path);
  if (error) throw error;
  for (const from of localImports(source)) assertK6Syntax(resolve(dirname(path), from), seen);
}
