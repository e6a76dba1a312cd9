import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadRouteFile } from "../src/index.ts";
import before from "./fixtures/dash-table-before.json";

const FIG_YAML = join(import.meta.dir, "..", "..", "..", "fig.yaml");

// Identity's routes are Fig's own (routed whole to it), not Dash's: the fixture predates them.
const dashOnly = <T extends { routes: { id: string }[] }>(table: T) => ({
  ...table,
  routes: table.routes.filter((route) => !route.id.startsWith("identity")),
});

describe("the repository's fig.yaml", () => {
  // The fixture is what routeTable() in services/gateway/src/routes.ts returned before the table moved into
  // fig.yaml: the gateway must serve exactly the same routes, policies and seed weights from the file.
  test("converts to the table the gateway served before, with the variables set", () => {
    const { table } = loadRouteFile({ file: FIG_YAML, env: before.withEnv.env });
    expect(dashOnly(table)).toStrictEqual(before.withEnv.table as never);
  });

  test("converts to the table the gateway served before, with every variable at its default", () => {
    const { table } = loadRouteFile({ file: FIG_YAML, env: before.defaults.env });
    expect(dashOnly(table)).toStrictEqual(before.defaults.table as never);
  });

  test("lists each upstream's committed OpenAPI document", () => {
    const { upstreams } = loadRouteFile({ file: FIG_YAML, env: {} });
    const listed = Object.values(upstreams).map((u) => [u.name, u.openapi]);
    expect(listed.sort(([a], [b]) => String(a).localeCompare(String(b)))).toEqual([
      ["audit", undefined], // read by the gateway's /_fig/audit, not merged into /openapi.json
      ["identity", "openapi/identity.json"],
      ["monolith", "openapi/monolith.json"],
      ["reference-data", "openapi/reference-data.json"],
      ["validation", "openapi/validation.json"],
    ]);
  });
});
