import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { nextFreePort, ScaffoldRefusal, scaffoldService } from "../new-service/scaffold.ts";

// The scaffold reads ports and names from every workspace the root's globs find, group folders included
// (services/dash/*), as `bun run dev` does: a service there still takes its port and its name.
describe("bun run new service in a tree with group folders", () => {
  let root = "";
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), "fig-new-service-workspaces-"));
    write(
      "package.json",
      JSON.stringify({ workspaces: ["packages/*", "packages/dash/*", "services/*", "services/dash/*"] }),
    );
    write("fig.yaml", "routes: []\n");
    write("compose.yaml", "services: {}\n");
    write("services/gateway/package.json", JSON.stringify({ name: "@fig/gateway", fig: { port: 8080 } }));
    write(
      "services/dash/validation/package.json",
      JSON.stringify({ name: "@dash/validation", fig: { port: 8085 } }),
    );
    write("services/dash/notes/package.json", JSON.stringify({ name: "@dash/notes", fig: { port: 8086 } }));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test("the next free port skips the ports services in a group folder declare", () => {
    expect(nextFreePort(root)).toBe(8087);
  });

  test("a name a group folder's service has is refused, and nothing is written", async () => {
    const attempt = scaffoldService({ root, name: "validation", db: false });
    await expect(attempt).rejects.toThrow(ScaffoldRefusal);
    await expect(scaffoldService({ root, name: "validation", db: false })).rejects.toThrow(
      "services/dash/validation exists already; choose another name",
    );
    expect(existsSync(join(root, "services", "validation"))).toBe(false);
  });

  test("a workspace package.json that is not JSON is named", () => {
    write("services/dash/broken/package.json", "{ not json");
    try {
      expect(() => nextFreePort(root)).toThrow(
        "services/dash/broken/package.json is not valid JSON; fix it first",
      );
    } finally {
      rmSync(join(root, "services/dash/broken"), { recursive: true, force: true });
    }
  });
});
