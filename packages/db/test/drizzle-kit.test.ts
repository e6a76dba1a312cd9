import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const drizzleKit = join(import.meta.dir, "../../../node_modules/.bin/drizzle-kit");
const schema = join(import.meta.dir, "fixtures/schema-importing-db.ts");
const out = mkdtempSync(join(tmpdir(), "fig-drizzle-kit-"));

afterAll(() => rmSync(out, { recursive: true, force: true }));

// drizzle-kit runs under Node unless told `--bun`, and loads the schema as CommonJS (no import.meta.resolve):
// importing @fig/db must not reach for what only runs when a PGlite database is opened.
test("drizzle-kit generate under Node loads a schema that imports @fig/db", async () => {
  const proc = Bun.spawn(
    ["node", drizzleKit, "generate", "--dialect", "postgresql", "--schema", schema, "--out", "drizzle"],
    { cwd: out, stdout: "pipe", stderr: "pipe", stdin: "ignore" },
  );
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  expect({ code, output: `${stdout}\n${stderr}`.trim() }).toMatchObject({ code: 0 });
  const migrations = readdirSync(join(out, "drizzle")).filter((file) => file.endsWith(".sql"));
  expect(migrations).toHaveLength(1);
  expect(readFileSync(join(out, "drizzle", migrations[0] ?? ""), "utf8")).toContain('CREATE TABLE "widgets"');
});
