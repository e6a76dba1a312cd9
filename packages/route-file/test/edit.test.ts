import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { addRoute, addUpstream, loadRouteText, parseRouteFile, RouteFileError } from "../src/index.ts";

const FIG_YAML = readFileSync(join(import.meta.dir, "..", "..", "..", "fig.yaml"), "utf8");
const billing = {
  name: "billing",
  matches: [{ path: { type: "PathPrefix" as const, value: "/api/invoices" } }],
  backendRefs: [
    { name: "monolith", weight: 100 },
    { name: "billing", weight: 0 },
  ],
  filters: [
    { type: "RequestMirror" as const, requestMirror: { backendRef: { name: "billing" }, percent: 0 } },
  ],
  fig: {
    gate: { script: "loadtests/billing.js", roles: ["viewer" as const, "gate" as const], tenant: "fig" },
  },
};

describe("addUpstream and addRoute (what `bun run new service` uses)", () => {
  test("append a route and its upstream; every comment and the existing text are kept", () => {
    const withUpstream = addUpstream(FIG_YAML, "billing", {
      url: { env: "BILLING_URL", default: "http://127.0.0.1:8086" },
      openapi: "openapi/billing.json",
    });
    const text = addRoute(withUpstream, billing);

    // Only insertions: take the new lines out and the file is byte for byte what it was, comments and all.
    const upstreamLines =
      "  billing:\n    url: { env: BILLING_URL, default: http://127.0.0.1:8086 }\n    openapi: openapi/billing.json\n";
    expect(withUpstream).toBe(FIG_YAML.replace("\ndefaults:", `${upstreamLines}\ndefaults:`));
    const start = text.indexOf("\n  - name: billing");
    const end = text.indexOf("tenant: fig\n", start) + "tenant: fig\n".length;
    expect(text.slice(0, start) + text.slice(end)).toBe(withUpstream);
    expect(start).toBeGreaterThan(text.indexOf("  - name: validation"));
    expect(text.slice(start, end)).toContain("\n      - { name: billing, weight: 0 }\n");

    const file = parseRouteFile(text);
    expect(file.routes.map((r) => r.name)).toEqual([
      "reference-data",
      "validation",
      "identity",
      "identity-users",
      "billing",
    ]);
    expect(file.upstreams.billing).toEqual({
      url: { env: "BILLING_URL", default: "http://127.0.0.1:8086" },
      openapi: "openapi/billing.json",
    });
    const route = loadRouteText(text, { env: {} }).table.routes.find((r) => r.id === "billing");
    expect(route?.upstreams).toEqual([
      { name: "monolith", url: "http://127.0.0.1:8081", weight: 100 },
      { name: "billing", url: "http://127.0.0.1:8086", weight: 0 },
    ]);
  });

  test("a route that does not fit the file is refused with its field errors", () => {
    const clash = { ...billing, name: "validation", matches: [{ path: { value: "/api/files/big" } }] };
    let error: unknown;
    try {
      addRoute(addUpstream(FIG_YAML, "billing", { url: "http://127.0.0.1:8086" }), clash);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RouteFileError);
    expect((error as RouteFileError).issues.map((i) => i.path)).toEqual([
      "routes[4].name",
      "routes[4].matches[0].path.value",
    ]);
    expect(() => addRoute(FIG_YAML, billing)).toThrow(/unknown upstream "billing"/);
    expect(() => addUpstream(FIG_YAML, "validation", { url: "http://x:1" })).toThrow(/already declared/);
  });

  test("`routes:` (null) or `routes: []` is a file with no routes; the first route is written in the file's style", () => {
    const own = [
      "upstreams:",
      "    legacy:",
      '        url: "http://127.0.0.1:3000"   # the app',
      "    billing:",
      '        url: "http://127.0.0.1:8086"',
      "",
      "monolith:",
      "    backendRef: legacy",
      "    prefix: /api",
      "",
      "routes: # none yet",
      "",
      "# the end",
      "",
    ].join("\n");
    const route = {
      ...billing,
      backendRefs: [
        { name: "legacy", weight: 100 },
        { name: "billing", weight: 0 },
      ],
    };
    for (const text of [own, own.replace("routes: # none yet", "routes: []  # none yet")]) {
      expect(parseRouteFile(text).routes).toEqual([]);
      const added = addRoute(text, route);
      // Everything before the key and after the new block is as written, four-space steps and comments included.
      const start = added.indexOf("routes:");
      expect(added.slice(0, start)).toBe(own.slice(0, own.indexOf("routes:")));
      expect(added).toContain("routes:");
      expect(added).toContain(
        "\n    - name: billing\n      matches:\n          - path: { type: PathPrefix, value: /api/invoices }\n",
      );
      expect(added.endsWith("\n\n# the end\n")).toBe(true);
      expect(parseRouteFile(added).routes.map((r) => r.name)).toEqual(["billing"]);
    }
    expect(parseRouteFile(own.replace("routes: # none yet", "")).routes).toEqual([]);
  });
});
