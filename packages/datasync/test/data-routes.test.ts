import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeDevDatabases } from "@fig/db";
import { parseRouteFile } from "@fig/route-file";
import { dataRouteOf, dataRoutesOf, loadCliConfig, otherSide } from "../src/index.ts";

// What migrate-data and the services read from a route file: the route's data, its sides and consumers, and each
// side's database URL (the upstream's `database: { env }`, else what `bun run dev` wrote down).
const dir = mkdtempSync(join(tmpdir(), "fig-data-routes-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const routeFile = (route: string) =>
  [
    "upstreams:",
    "  legacy: { url: 'http://127.0.0.1:9', database: { env: LEGACY_DB } }",
    "  next: { url: 'http://127.0.0.1:9', database: { env: NEXT_DB } }",
    "  third: { url: 'http://127.0.0.1:9' }",
    "monolith: { backendRef: legacy, prefix: /api }",
    "routes:",
    route,
    "  - name: plain",
    "    matches: [{ path: { type: PathPrefix, value: /api/plain } }]",
    "    backendRefs: [{ name: legacy, weight: 100 }, { name: next, weight: 0 }]",
  ].join("\n");

const notes = (backendRefs: string, data = "{ tables: [{ name: notes, key: id, version: version }] }") =>
  [
    "  - name: notes",
    "    matches: [{ path: { type: PathPrefix, value: /api/notes } }]",
    `    backendRefs: ${backendRefs}`,
    `    fig: { data: ${data} }`,
  ].join("\n");

const TWO_SIDES = "[{ name: legacy, weight: 100 }, { name: next, weight: 0 }]";

describe("data routes from the route file", () => {
  test("a route's data: its sides in backendRef order, data.changed, and a consumer per side by default", () => {
    const route = dataRouteOf(parseRouteFile(routeFile(notes(TWO_SIDES))), "notes");
    expect(route).toMatchObject({
      id: "notes",
      event: "data.changed",
      sides: ["legacy", "next"],
      seedOwner: "legacy",
    });
    expect(route.consumers).toEqual({ legacy: "next-notes-sync", next: "legacy-notes-sync" });
    expect(otherSide(route, "legacy")).toBe("next");
    expect(otherSide(route, "next")).toBe("legacy");
    expect(() => otherSide(route, "third")).toThrow("third is not one of its sides (legacy, next)");
  });

  test("only routes that declare data are data routes; asking for another names the ones there are", () => {
    const file = parseRouteFile(routeFile(notes(TWO_SIDES)));
    expect(Object.keys(dataRoutesOf(file))).toEqual(["notes"]);
    expect(() => dataRouteOf(file, "plain")).toThrow(
      "route plain declares no data (fig.data in the route file); routes with data: notes",
    );
  });

  test("a data route needs exactly two sides, and its consumers must name them", () => {
    const three = "[{ name: legacy, weight: 50 }, { name: next, weight: 25 }, { name: third, weight: 25 }]";
    expect(() => dataRoutesOf(parseRouteFile(routeFile(notes(three))))).toThrow(
      "route notes: data sync needs exactly two backendRefs (the legacy side and the new one), it has 3",
    );
    const strayConsumer = "{ consumers: { third: x }, tables: [{ name: notes, key: id, version: version }] }";
    expect(() => dataRoutesOf(parseRouteFile(routeFile(notes(TWO_SIDES, strayConsumer))))).toThrow(
      "fig.data.consumers names third, not one of its backendRefs",
    );
  });

  test("each side's database: the variable its upstream names, else bun run dev's file, else unset", () => {
    const file = join(dir, "fig.yaml");
    writeFileSync(file, routeFile(notes(TWO_SIDES)));
    const dataDir = join(dir, ".data");
    mkdirSync(dataDir);
    writeDevDatabases(dataDir, {
      pid: process.pid,
      kind: "embedded",
      databases: {
        legacy: "postgres://dev@127.0.0.1:5481/postgres",
        next: "postgres://dev@127.0.0.1:5482/postgres",
      },
    });
    const config = loadCliConfig({
      FIG_ROUTES_FILE: file,
      DATA_DIR: dataDir,
      LEGACY_DB: "postgres://set@127.0.0.1:5432/legacy",
      AUTH_DEV_SECRET: "a-dev-secret-of-at-least-thirty-two-characters",
    });
    expect(config.databases.legacy).toEqual({
      url: "postgres://set@127.0.0.1:5432/legacy",
      source: "LEGACY_DB",
      variable: "LEGACY_DB",
    });
    expect(config.databases.next?.url).toBe("postgres://dev@127.0.0.1:5482/postgres");
    expect(config.databases.next?.source).toStartWith(
      `${join(dataDir, "dev-databases.json")}, written by bun run dev`,
    );
    expect(config.databases.third).toEqual({ url: undefined, source: "unset", variable: undefined });
  });
});
