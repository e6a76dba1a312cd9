import { expect, test } from "bun:test";
import { join } from "node:path";

const CLI = join(import.meta.dir, "..", "src", "cli.ts");

test("--help says where --flip-writes finds each side's database: the route file, not fixed variables", async () => {
  const proc = Bun.spawn([process.execPath, CLI, "--help"], {
    stdout: "pipe",
    stderr: "pipe",
    stdin: "ignore",
  });
  const [stdout, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  expect(code).toBe(0);
  expect(stdout).toContain("reads each side's database from its upstream's database: in the route");
  expect(stdout).not.toContain("MONOLITH_DATABASE_URL");
  expect(stdout).not.toContain("REFERENCE_DATA_DATABASE_URL");
});
