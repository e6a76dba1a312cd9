import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { DiscoveryError, discoverServices, workspaceFolders } from "../dev-runner/discover.ts";

// Services are found through the root package.json's workspace globs, as Bun finds workspaces.
describe("discoverServices", () => {
  let root = "";
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const service = (folder: string, port: number) => {
    write(`${folder}/package.json`, JSON.stringify({ name: `@x/${folder}`, fig: { port } }));
    write(`${folder}/src/main.ts`, "");
  };
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  test("a service in a group folder is found and named after its own folder; the group folder is no workspace", () => {
    root = mkdtempSync(join(tmpdir(), "fig-discover-"));
    write("package.json", JSON.stringify({ workspaces: ["packages/*", "services/*", "services/dash/*"] }));
    service("services/gateway", 18080);
    service("services/dash/monolith", 18081);
    write("packages/db/package.json", JSON.stringify({ name: "@x/db" }));
    const found = discoverServices(root).map((s) => ({
      name: s.name,
      port: s.port,
      dir: relative(root, s.dir),
    }));
    expect(found).toEqual([
      { name: "gateway", port: 18080, dir: "services/gateway" },
      { name: "monolith", port: 18081, dir: "services/dash/monolith" },
    ]);
    expect(workspaceFolders(root).map((d) => relative(root, d))).toEqual([
      "packages/db",
      "services/dash/monolith",
      "services/gateway",
    ]);
  });

  test("a folder the globs do not reach is not started", () => {
    root = mkdtempSync(join(tmpdir(), "fig-discover-"));
    write("package.json", JSON.stringify({ workspaces: ["services/*"] }));
    service("services/gateway", 18080);
    service("services/dash/monolith", 18081);
    expect(discoverServices(root).map((s) => s.name)).toEqual(["gateway"]);
  });

  test("two services with one folder name are refused, naming both folders", () => {
    root = mkdtempSync(join(tmpdir(), "fig-discover-"));
    write("package.json", JSON.stringify({ workspaces: ["services/*", "services/dash/*"] }));
    service("services/dash/validation", 18083);
    service("services/validation", 18090);
    expect(() => discoverServices(root)).toThrow(
      new DiscoveryError(
        'services/dash/validation and services/validation are both named "validation" (a service is named after its folder)',
      ),
    );
  });

  test("a root without package.json reads packages/* and services/*", () => {
    root = mkdtempSync(join(tmpdir(), "fig-discover-"));
    service("services/gateway", 18080);
    service("services/dash/monolith", 18081);
    expect(discoverServices(root).map((s) => s.name)).toEqual(["gateway"]);
  });
});
