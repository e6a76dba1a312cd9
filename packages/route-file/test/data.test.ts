import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseRouteFile, RouteFileError } from "../src/index.ts";

const ROOT = join(import.meta.dir, "../../..");

/** A route file with two upstreams and one route whose `fig.data` is `data` (YAML flow style). */
const fileWith = (data: unknown) =>
  [
    "upstreams: { legacy: { url: 'http://127.0.0.1:9' }, next: { url: 'http://127.0.0.1:9' } }",
    "monolith: { backendRef: legacy, prefix: /api }",
    "routes:",
    "  - name: notes",
    "    matches: [{ path: { type: PathPrefix, value: /api/notes } }]",
    "    backendRefs: [{ name: legacy, weight: 100 }, { name: next, weight: 0 }]",
    `    fig: { data: ${JSON.stringify(data)} }`,
  ].join("\n");

/** Every `path: reason` the route file's loader reports for this `fig.data`. */
function issuesOf(data: unknown): string[] {
  try {
    parseRouteFile(fileWith(data), "test.yaml");
  } catch (error) {
    if (error instanceof RouteFileError) return error.issues.map((i) => `${i.path}: ${i.reason}`);
    throw error;
  }
  return [];
}

describe("fig.data in the route file", () => {
  test("Dash's reference-data declaration in fig.yaml: four tables, its own event and consumers", () => {
    const file = parseRouteFile(readFileSync(join(ROOT, "fig.yaml"), "utf8"), "fig.yaml");
    const data = file.routes.find((r) => r.name === "reference-data")?.fig?.data;
    expect(data?.event).toBe("reference.changed");
    expect(data?.tables.map((t) => [t.name, t.key, t.exclude])).toEqual([
      ["codes", ["code"], ["search_text"]],
      ["contexts", ["code"], ["search_text"]],
      ["establishments", ["number"], ["search_text"]],
      ["rules", ["id"], ["search_text"]],
    ]);
    expect(file.routes.find((r) => r.name === "validation")?.fig?.data).toBeUndefined();
  });

  test("another system's tables: a composite key, updatedAt alone; the event defaults to data.changed", () => {
    const file = parseRouteFile(
      fileWith({
        tables: [
          { name: "notes", key: "id", version: "version", columns: ["body", "version"] },
          { name: "note_tags", key: ["note_id", "tag"], updatedAt: "updated_at" },
        ],
      }),
    );
    const data = file.routes[0]?.fig?.data;
    expect(data?.event).toBe("data.changed");
    expect(data?.consumers).toEqual({});
    expect(data?.tables[1]).toEqual({
      name: "note_tags",
      key: ["note_id", "tag"],
      updatedAt: "updated_at",
      exclude: [],
    });
  });

  test.each([
    [
      { tables: [{ name: "notes", key: "id" }] },
      "routes[0].fig.data.tables[0].version: declare version (an integer bumped on every write) or updatedAt (a timestamp set on every write)",
    ],
    [{ tables: [] }, "routes[0].fig.data.tables: declare at least one table"],
    [
      {
        tables: [
          { name: "notes", key: "id", version: "v" },
          { name: "notes", key: "id", version: "v" },
        ],
      },
      "routes[0].fig.data.tables[1].name: table notes is declared twice (also tables[0])",
    ],
    [
      { tables: [{ name: "notes", key: "id", version: "v", columns: ["a"], exclude: ["b"] }] },
      "routes[0].fig.data.tables[0].exclude: declare columns or exclude, not both",
    ],
    [
      { tables: [{ name: "notes", key: "id", version: "v", exclude: ["id"] }] },
      "routes[0].fig.data.tables[0].exclude: the key column id cannot be excluded",
    ],
    [
      { tables: [{ name: "Notes", key: "id", version: "v" }] },
      "routes[0].fig.data.tables[0].name: must be a column or table name: lowercase letters, digits and '_'",
    ],
    [
      { event: "changed", tables: [{ name: "notes", key: "id", version: "v" }] },
      "routes[0].fig.data.event: must be an event type <entity>.<verb> (like data.changed)",
    ],
  ])("%j is reported at its field path", (data, issue) => {
    expect(issuesOf(data)).toContain(issue);
  });
});
