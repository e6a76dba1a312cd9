/**
 * Every script under loadtests/ (and every test fixture a gate runs) parses as ES2017 + ES modules, the syntax
 * k6 from v0.43 on loads; the builtin engine refuses anything newer before running it, with file:line:col.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { runGate } from "../src/gate.ts";
import { k6SyntaxError } from "../src/syntax.ts";

const ROOT = resolve(import.meta.dir, "../../..");

async function scripts(): Promise<string[]> {
  const found: string[] = [];
  for (const pattern of ["loadtests/**/*.js", "packages/*/test/fixtures/**/*.js"])
    for await (const file of new Bun.Glob(pattern).scan({ cwd: ROOT })) found.push(file);
  return found.sort();
}

describe("k6 script syntax (ES2017 + ES modules)", () => {
  test("every loadtests/ script and gate fixture parses; a failure names file:line:col", async () => {
    const files = await scripts();
    // The three journeys and their helper, at least: an empty glob must not pass.
    for (const name of ["reference-data.js", "validation.js", "gateway-mixed.js", "lib/fig.js"])
      expect(files).toContain(`loadtests/${name}`);
    const errors: string[] = [];
    for (const file of files) {
      const error = k6SyntaxError(await Bun.file(join(ROOT, file)).text(), file);
      if (error) errors.push(error.message);
    }
    expect(errors).toEqual([]);
  });

  test("the checker rejects object spread, ?. and ?? and accepts async/await", () => {
    expect(k6SyntaxError("const h = { a: 1, ...b };\n", "s.js")?.message).toStartWith("s.js:1:19: ");
    expect(k6SyntaxError("export default function () {\n  return a?.b;\n}\n", "s.js")?.message).toStartWith(
      "s.js:2:12: ",
    );
    expect(k6SyntaxError("const x = a ?? 1;\n", "s.js")?.message).toStartWith("s.js:1:14: ");
    expect(
      k6SyntaxError("export default async function () { await Promise.resolve(1); }\n", "s.js"),
    ).toBeNull();
  });
});

describe("the builtin engine refuses what k6 < v0.53 cannot parse", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "fig-k6-syntax-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const options = { http_req_failed: ["rate<0.01"] };
  const script = (body: string) =>
    `import http from "k6/http";\nexport const options = { thresholds: ${JSON.stringify(options)} };\n${body}`;

  test("a script with ?. is refused before it runs, with its file:line:col", async () => {
    const file = join(dir, "chaining.js");
    // A top-level side effect shows whether the module was evaluated at all.
    await writeFile(
      file,
      script("globalThis.figSyntaxEvaluated = true;\nexport default function () {\n  return __ENV?.X;\n}\n"),
    );
    const error = await runGate({ script: file, engine: "builtin", includeSystemEnv: false }).catch((e) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe("ScriptError");
    expect((error as Error).message).toStartWith(`${relative(process.cwd(), file)}:5:16: `);
    expect((globalThis as { figSyntaxEvaluated?: boolean }).figSyntaxEvaluated).toBeUndefined();
  });

  test("object spread in a module the script imports is refused too, naming that module", async () => {
    await writeFile(join(dir, "helper.js"), "export function h(x) {\n  return { a: 1, ...x };\n}\n");
    const file = join(dir, "imports.js");
    await writeFile(
      file,
      script('import { h } from "./helper.js";\nexport default function () { h({}); }\n'),
    );
    const error = await runGate({ script: file, engine: "builtin", includeSystemEnv: false }).catch((e) => e);
    expect((error as Error).name).toBe("ScriptError");
    expect((error as Error).message).toStartWith(`${relative(process.cwd(), join(dir, "helper.js"))}:2:18: `);
  });
});
