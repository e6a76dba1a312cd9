import { describe, expect, test } from "bun:test";
import { stringify } from "yaml";
import { loadRouteText, parseRouteFile, RouteFileError, type RouteFileIssue } from "../src/index.ts";

// biome-ignore lint/suspicious/noExplicitAny: the cases edit the file's JSON freely, as a user edits the YAML
type Editable = Record<string, any>;

/** A small valid file of another system than Dash: a notes monolith with one service carved out. */
function baseFile(): Editable {
  return {
    upstreams: {
      legacy: { url: { env: "LEGACY_URL", default: "http://127.0.0.1:9001" } },
      notes: { url: { env: "NOTES_URL" }, openapi: "openapi/notes.json" },
      search: { url: "http://127.0.0.1:9003" },
    },
    defaults: { rateLimit: { perMinute: { env: "PER_MINUTE", default: 60 } } },
    monolith: { backendRef: "legacy", prefix: "/api" },
    routes: [
      {
        name: "notes",
        matches: [{ path: { type: "PathPrefix", value: "/api/notes" } }],
        backendRefs: [
          { name: "legacy", weight: 100 },
          { name: "notes", weight: 0 },
        ],
        filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "notes" }, percent: 5 } }],
        fig: { writeOwner: "legacy", shadow: { ignorePaths: ["id"] } },
      },
      {
        name: "search",
        matches: [
          { path: { type: "PathPrefix", value: "/api/search" }, method: "GET" },
          { path: { type: "PathPrefix", value: "/api/search" }, method: "POST" },
        ],
        backendRefs: [{ name: "search", weight: 100 }],
      },
    ],
  };
}

/** The issues of a file that must be refused (fails the test when it is accepted). */
function issuesOf(file: unknown): RouteFileIssue[] {
  try {
    parseRouteFile(stringify(file));
  } catch (error) {
    if (error instanceof RouteFileError) return error.issues;
    throw error;
  }
  throw new Error("the file was accepted");
}

const env = { NOTES_URL: "http://notes.internal:8086" };

describe("the route file's schema", () => {
  test("the base file is valid and converts to a route table", () => {
    const { table } = loadRouteText(stringify(baseFile()), { env });
    expect(table.defaultRoute.upstreams).toEqual([
      { name: "legacy", url: "http://127.0.0.1:9001", weight: 100 },
    ]);
    const [notes, search] = table.routes;
    expect(notes?.upstreams.map((u) => [u.name, u.url, u.weight])).toEqual([
      ["legacy", "http://127.0.0.1:9001", 100],
      ["notes", "http://notes.internal:8086", 0],
    ]);
    expect(notes?.policies.shadow).toEqual({ percent: 5, candidate: "notes", ignorePaths: ["id"] });
    expect(notes?.policies.rateLimit.perMinute).toBe(60);
    expect(search?.methods).toEqual(["GET", "POST"]);
    expect(search?.writeOwner).toBe("search"); // default: the first backendRef
  });

  const cases: [string, (f: Editable) => void, string, RegExp][] = [
    [
      "an unknown upstream in backendRefs",
      (f) => (f.routes[0].backendRefs[1].name = "nots"),
      "routes[0].backendRefs[1].name",
      /unknown upstream "nots" \(known: legacy, notes, search\)/,
    ],
    [
      "an unknown monolith upstream",
      (f) => (f.monolith.backendRef = "old"),
      "monolith.backendRef",
      /unknown upstream "old"/,
    ],
    [
      "weights not summing to 100",
      (f) => (f.routes[0].backendRefs[1].weight = 10),
      "routes[0].backendRefs",
      /weights sum to 110, not 100/,
    ],
    [
      "a weight that is not an integer percent",
      (f) => (f.routes[0].backendRefs[0].weight = 100.5),
      "routes[0].backendRefs[0].weight",
      /integer/i,
    ],
    [
      "a duplicate route name",
      (f) => (f.routes[1].name = "notes"),
      "routes[1].name",
      /duplicate route name "notes" \(also routes\[0\]\)/,
    ],
    [
      "a prefix overlapping another route's",
      (f) => (f.routes[1].matches = [{ path: { type: "PathPrefix", value: "/api/notes/search" } }]),
      "routes[1].matches[0].path.value",
      /\/api\/notes\/search overlaps \/api\/notes of routes\[0\] \(notes\)/,
    ],
    [
      "a write owner not among the backendRefs",
      (f) => (f.routes[0].fig.writeOwner = "search"),
      "routes[0].fig.writeOwner",
      /"search" is not among the route's backendRefs \(legacy, notes\)/,
    ],
    [
      "a mirror backendRef not in the route",
      (f) => (f.routes[0].filters[0].requestMirror.backendRef.name = "search"),
      "routes[0].filters[0].requestMirror.backendRef.name",
      /"search" is not among the route's backendRefs/,
    ],
    [
      "a mirror to the legacy side",
      (f) => (f.routes[0].filters[0].requestMirror.backendRef.name = "legacy"),
      "routes[0].filters[0].requestMirror.backendRef.name",
      /legacy side/,
    ],
    [
      "shadow settings without a mirror",
      (f) => delete f.routes[0].filters,
      "routes[0].fig.shadow",
      /needs a RequestMirror filter/,
    ],
    [
      "a bad gate role",
      (f) =>
        (f.routes[0].fig.gate = {
          script: "loadtests/notes.js",
          roles: ["viewer", "superuser"],
          tenant: "t",
        }),
      "routes[0].fig.gate.roles[1]",
      /unknown role "superuser" \(known: viewer, editor, admin, gate/,
    ],
    [
      "a bad auth role",
      (f) => (f.defaults.auth = { read: "reader", write: "editor" }),
      "defaults.auth",
      /reader|Invalid/,
    ],
    [
      "a bad rate-limit role",
      (f) => (f.defaults.rateLimit.byRole = { robot: 5 }),
      "defaults.rateLimit.byRole",
      /unknown field\(s\) robot/,
    ],
    [
      "an Exact path match",
      (f) => (f.routes[0].matches[0].path.type = "Exact"),
      "routes[0].matches[0].path.type",
      /only PathPrefix/,
    ],
    [
      "a trailing slash",
      (f) => (f.routes[0].matches[0].path.value = "/api/notes/"),
      "routes[0].matches[0].path.value",
      /trailing slash/,
    ],
    [
      "an unknown method",
      (f) => (f.routes[1].matches[0].method = "FETCH"),
      "routes[1].matches[0].method",
      /expected one of GET/,
    ],
    [
      "methods not listed for every path",
      (f) => f.routes[1].matches.push({ path: { type: "PathPrefix", value: "/api/find" }, method: "GET" }),
      "routes[1].matches",
      /every path must be listed with every method/,
    ],
    [
      "an unknown field",
      (f) => (f.routes[0].fig.writeowner = "legacy"),
      "routes[0].fig",
      /unknown field\(s\) writeowner/,
    ],
    ["an unknown write mode", (f) => (f.routes[0].fig.writes = "primary"), "routes[0].fig.writes", /owner/],
    ["a missing url", (f) => delete f.upstreams.search.url, "upstreams.search.url", /required/],
    [
      "a url that is not http(s)",
      (f) => (f.upstreams.search.url = "search:9003"),
      "upstreams.search.url",
      /http\(s\) URL/,
    ],
    [
      "a bad env reference",
      (f) => (f.upstreams.search.url = { env: "SEARCH URL" }),
      "upstreams.search.url.env",
      /not an environment variable name/,
    ],
    [
      "a list merge outside the route",
      (f) =>
        (f.routes[0].fig.listMerge = [
          { path: "/api/other", sortKey: "t", idKey: "id", itemsField: "items", defaultLimit: 10 },
        ]),
      "routes[0].fig.listMerge[0].path",
      /not under the route's paths/,
    ],
  ];
  for (const [what, edit, path, reason] of cases)
    test(`refuses ${what}, at ${path}`, () => {
      const file = baseFile();
      edit(file);
      const issues = issuesOf(file);
      const found = issues.find((i) => i.path === path);
      expect({ found: found?.path, all: issues.map((i) => `${i.path}: ${i.reason}`) }).toMatchObject({
        found: path,
      });
      expect(found?.reason).toMatch(reason);
    });

  test("several mistakes are reported at once, each with its line", () => {
    const file = baseFile();
    file.routes[0].backendRefs[1].name = "nots";
    file.routes[1].name = "notes";
    file.routes[0].fig.writeOwner = "search";
    const text = stringify(file);
    const issues = issuesOf(file);
    expect(issues.map((i) => i.path).sort()).toEqual([
      "routes[0].backendRefs[1].name",
      "routes[0].fig.writeOwner",
      "routes[0].filters[0].requestMirror.backendRef.name", // the mirror's "notes" is no longer a backendRef
      "routes[1].name",
    ]);
    const reported = issues.find((i) => i.path === "routes[1].name")?.line;
    expect(reported).toBeGreaterThan(0);
    expect(text.split("\n")[(reported ?? 1) - 1]).toContain("name: notes");
  });

  test("a YAML syntax error is reported with its line", () => {
    let error: unknown;
    try {
      parseRouteFile("upstreams:\n  a: { url: http://x\nmonolith: [\n");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RouteFileError);
    expect((error as RouteFileError).issues[0]?.path).toBe("(yaml)");
    expect((error as RouteFileError).issues[0]?.line).toBeGreaterThan(0);
  });
});

describe("environment references", () => {
  const text = stringify(baseFile());

  test("a set variable wins over the default; unset (or empty) takes the default", () => {
    const set = loadRouteText(text, { env: { ...env, LEGACY_URL: "http://legacy:80", PER_MINUTE: "7" } });
    expect(set.upstreams.legacy?.url).toBe("http://legacy:80");
    expect(set.table.routes[0]?.policies.rateLimit.perMinute).toBe(7);
    const unset = loadRouteText(text, { env: { ...env, LEGACY_URL: "" } });
    expect(unset.upstreams.legacy?.url).toBe("http://127.0.0.1:9001");
    expect(unset.table.routes[0]?.policies.rateLimit.perMinute).toBe(60);
  });

  test("a variable with no default that is unset, or set to a bad value, is an error at its field", () => {
    const issues = (() => {
      try {
        loadRouteText(text, { env: { PER_MINUTE: "lots" } });
      } catch (error) {
        return (error as RouteFileError).issues;
      }
      throw new Error("accepted");
    })();
    expect(issues.map((i) => `${i.path}: ${i.reason}`)).toEqual([
      "upstreams.notes.url: environment variable NOTES_URL is not set and has no default",
      expect.stringMatching(/^defaults\.rateLimit\.perMinute: PER_MINUTE="lots": /),
    ]);
  });

  test("requireUrls: false (the OpenAPI document, migrate-data) leaves an unset URL empty; the gateway's load still refuses it", () => {
    const lazy = loadRouteText(text, { env: { ...env, NOTES_URL: "" }, requireUrls: false });
    expect(lazy.upstreams.notes?.url).toBe("");
    expect(lazy.upstreams.legacy?.url).toBe("http://127.0.0.1:9001");
    expect(lazy.table.routes[0]?.upstreams.find((u) => u.name === "notes")?.url).toBe("");
    // Only a missing URL is let through: a bad one, or any other unset variable, is still an error.
    expect(() =>
      loadRouteText(text, { env: { ...env, NOTES_URL: "not a url" }, requireUrls: false }),
    ).toThrow(/upstreams\.notes\.url: NOTES_URL="not a url"/);
    expect(() => loadRouteText(text, { env: { PER_MINUTE: "lots" }, requireUrls: false })).toThrow(
      /defaults\.rateLimit\.perMinute/,
    );
    expect(() => loadRouteText(text, { env: { ...env, NOTES_URL: "" } })).toThrow(
      "upstreams.notes.url: environment variable NOTES_URL is not set and has no default",
    );
  });
});
