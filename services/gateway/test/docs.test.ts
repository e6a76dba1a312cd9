import { describe, expect, test } from "bun:test";
import { dashUpstreamDocuments } from "./fixtures/dash-routes.ts";
import { testGateway } from "./harness.ts";

describe("GET /openapi.json through the gateway", () => {
  test("merges the upstream services' operations with the gateway's own, built on the first request only", async () => {
    let built = 0;
    const g = testGateway({
      upstreamDocuments: () => {
        built++;
        return dashUpstreamDocuments();
      },
    });
    expect(built).toBe(0); // start-up does not pay for the upstream documents
    const res = await g.app.request("/openapi.json");
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(["/api/codes", "/api/validations", "/_fig/routes"]),
    );
    await g.app.request("/openapi.json");
    expect(built).toBe(1);
  });
});
