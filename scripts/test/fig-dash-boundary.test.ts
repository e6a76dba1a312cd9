import { describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { workspaceFolders } from "../dev-runner/discover.ts";

// Fig's folders import nothing from Dash's: Fig is the product every team reuses, Dash only its worked example.
// Tests may use Dash as a fixture (devDependencies, test/ folders); Fig's sources and runtime dependencies may not.

/** Where Dash lives: its workspaces, named @dash/*. */
const DASH_FOLDERS = ["packages/dash", "services/dash"];
/** Fig files that drive the worked example on purpose: CI's end-to-end promotion of Dash's stack. */
const EXEMPT = new Set(["scripts/ci-promotion.ts"]);
/** How a file names Dash: its package scope, or a path into its folders. */
const NAMES_DASH = [
  /@dash\//,
  /\b(?:services|packages)\/dash\b/,
  /["'`](?:services|packages)["'`]\s*,\s*["'`]dash["'`]/,
];
const RUNTIME_DEPENDENCIES = ["dependencies", "peerDependencies", "optionalDependencies"] as const;
const SOURCE = "**/*.{ts,tsx,js,mjs,cjs}";

const isDash = (folder: string) => DASH_FOLDERS.some((d) => folder === d || folder.startsWith(`${d}/`));

/** Each line of a Fig source file, and each runtime dependency of a Fig workspace, that names Dash. */
export function figReferencesToDash(root: string): string[] {
  const found: string[] = [];
  const sources: string[] = [];
  for (const dir of workspaceFolders(root)) {
    const folder = relative(root, dir);
    if (isDash(folder)) continue;
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Record<
      string,
      Record<string, string> | undefined
    >;
    for (const field of RUNTIME_DEPENDENCIES)
      for (const name of Object.keys(manifest[field] ?? {}))
        if (name.startsWith("@dash/")) found.push(`${folder}/package.json: ${field} names ${name}`);
    for (const file of new Bun.Glob(`${folder}/src/${SOURCE}`).scanSync({ cwd: root })) sources.push(file);
  }
  for (const file of new Bun.Glob(`scripts/${SOURCE}`).scanSync({ cwd: root }))
    if (!file.startsWith("scripts/test/") && !EXEMPT.has(file)) sources.push(file);
  for (const file of sources.sort()) {
    const lines = readFileSync(join(root, file), "utf8").split("\n");
    lines.forEach((line, i) => {
      if (NAMES_DASH.some((pattern) => pattern.test(line))) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

const repo = join(import.meta.dir, "..", "..");

describe("Fig apart from Dash", () => {
  test("no Fig source file and no Fig workspace's runtime dependencies name Dash", () => {
    expect(figReferencesToDash(repo)).toEqual([]);
  });

  test("every workspace says in its name whose it is: @dash/* under Dash's folders, @fig/* elsewhere", () => {
    const wrong = workspaceFolders(repo)
      .map((dir) => ({
        folder: relative(repo, dir),
        name: (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name: string }).name,
      }))
      .filter(({ folder, name }) => !name.startsWith(isDash(folder) ? "@dash/" : "@fig/"));
    expect(wrong).toEqual([]);
    // Dash's six workspaces are where the tree says they are.
    const dash = workspaceFolders(repo)
      .map((dir) => relative(repo, dir))
      .filter(isDash);
    expect(dash).toEqual([
      "packages/dash/billing",
      "packages/dash/billing-validation",
      "packages/dash/reference",
      "services/dash/monolith",
      "services/dash/reference-data",
      "services/dash/validation",
    ]);
  });

  test("the check fails on each way Fig can name Dash, and lets Dash and Fig's tests do so", () => {
    const root = mkdtempSync(join(tmpdir(), "fig-dash-boundary-"));
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    try {
      write(
        "package.json",
        JSON.stringify({ workspaces: ["packages/*", "packages/dash/*", "services/*", "services/dash/*"] }),
      );
      write(
        "services/gateway/package.json",
        JSON.stringify({
          name: "@fig/gateway",
          dependencies: { "@fig/events": "workspace:*", "@dash/reference": "workspace:*" },
          devDependencies: { "@dash/monolith": "workspace:*" },
        }),
      );
      write("services/gateway/src/app.ts", 'import { codes } from "@dash/reference";\n');
      write(
        "services/gateway/src/docs/merge.ts",
        'const spec = "../../services/dash/validation/openapi.json";\n',
      );
      write("services/gateway/test/app.test.ts", 'import { buildApp } from "@dash/monolith";\n');
      write("packages/datasync/package.json", JSON.stringify({ name: "@fig/datasync" }));
      write("packages/datasync/src/cli.ts", 'const seed = join(root, "packages", "dash", "reference");\n');
      write("scripts/dev.ts", "// nothing of Dash here\n");
      write("scripts/dev-runner/x.ts", 'const where = "packages/dash/billing";\n');
      write("scripts/test/dev.test.ts", 'import "@dash/billing";\n');
      write("scripts/ci-promotion.ts", 'const seed = "services/dash/reference-data/seed";\n');
      write(
        "services/dash/monolith/package.json",
        JSON.stringify({ name: "@dash/monolith", dependencies: { "@dash/reference": "workspace:*" } }),
      );
      write("services/dash/monolith/src/app.ts", 'import { codes } from "@dash/reference";\n');
      write("packages/dash/reference/package.json", JSON.stringify({ name: "@dash/reference" }));
      expect(figReferencesToDash(root)).toEqual([
        "services/gateway/package.json: dependencies names @dash/reference",
        'packages/datasync/src/cli.ts:1: const seed = join(root, "packages", "dash", "reference");',
        'scripts/dev-runner/x.ts:1: const where = "packages/dash/billing";',
        'services/gateway/src/app.ts:1: import { codes } from "@dash/reference";',
        'services/gateway/src/docs/merge.ts:1: const spec = "../../services/dash/validation/openapi.json";',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
