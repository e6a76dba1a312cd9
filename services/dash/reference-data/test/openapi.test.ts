import { describe, expect, test } from "bun:test";
import type { Database } from "@fig/db";
import { createLogger } from "@fig/service";
import { createTestAuth } from "@fig/testing";
import { buildApp } from "../src/app.ts";

// The document is built from route definitions alone; a database that throws proves it is never touched.
const db = new Proxy({} as Database, {
  get() {
    throw new Error("GET /openapi.json must not touch the database");
  },
});
const app = buildApp({
  db,
  verifier: createTestAuth().verifier,
  logger: createLogger({ service: "reference-data", level: "silent" }),
});

type Operation = {
  operationId?: string;
  summary?: string;
  security?: unknown[];
  responses: Record<string, unknown>;
};

async function operations(): Promise<Operation[]> {
  const res = await app.request("/openapi.json");
  expect(res.status).toBe(200);
  const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, Operation>> };
  expect(doc.openapi).toBe("3.1.0");
  return Object.entries(doc.paths)
    .filter(([path]) => path.startsWith("/api/"))
    .flatMap(([, methods]) => Object.values(methods));
}

const resources = [
  ["Code", "Codes"],
  ["Context", "Contexts"],
  ["Establishment", "Establishments"],
  ["Rule", "Rules"],
] as const;

describe("GET /openapi.json", () => {
  test.each(resources)("lists the seven operations of %s", async (singular, plural) => {
    const ids = (await operations()).map((op) => op.operationId);
    for (const id of [
      `list${plural}`,
      `get${singular}`,
      `create${singular}`,
      `update${singular}`,
      `delete${singular}`,
      `import${plural}`,
      `export${plural}`,
    ])
      expect(ids).toContain(id);
  });

  test("28 API operations with unique operationIds", async () => {
    const ids = (await operations()).map((op) => op.operationId);
    expect(ids).toHaveLength(28);
    expect(new Set(ids).size).toBe(28);
  });

  test("every API operation has a summary, bearer security and a 401 response", async () => {
    for (const op of await operations()) {
      expect({ id: op.operationId, summary: typeof op.summary }).toEqual({
        id: op.operationId,
        summary: "string",
      });
      expect((op.summary as string).length).toBeGreaterThan(0);
      expect({ id: op.operationId, security: op.security }).toEqual({
        id: op.operationId,
        security: [{ bearerAuth: [] }],
      });
      expect({ id: op.operationId, has401: "401" in op.responses }).toEqual({
        id: op.operationId,
        has401: true,
      });
    }
  });

  test("writes document 403, updates 412 and 428, creates 409, imports 415 and 422", async () => {
    const byId = new Map((await operations()).map((op) => [op.operationId, op]));
    const expected: [string, string[]][] = [
      ["createCode", ["201", "400", "403", "409"]],
      ["updateCode", ["200", "400", "403", "404", "412", "428"]],
      ["deleteCode", ["204", "403", "404"]],
      ["importCodes", ["200", "403", "415", "422"]],
      ["getCode", ["200", "304", "404"]],
      ["listCodes", ["200", "304", "400"]],
    ];
    for (const [id, statuses] of expected) {
      const responses = Object.keys(byId.get(id)?.responses ?? {});
      expect({ id, responses }).toEqual({ id, responses: expect.arrayContaining(statuses) });
    }
  });
});
