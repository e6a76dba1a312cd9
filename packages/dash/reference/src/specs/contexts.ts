import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { asBoolean, booleanQuery, recordBookkeeping, text } from "../fields.ts";
import type { ResourceSpec } from "../resource.ts";
import { contexts } from "../tables.ts";

const fields = {
  code: z
    .string()
    .regex(/^[A-Z0-9-]{1,10}$/, "must be 1–10 upper-case letters, digits or dashes")
    .openapi({ description: "Context code", example: "URG" }),
  description: text(1, 500).openapi({
    description: "Description (French)",
    example: "Service rendu à l'urgence",
  }),
  active: z.boolean().openapi({ description: "Inactive contexts are kept for history", example: true }),
};
const { code: _key, ...mutable } = fields;

export const contextsSpec: ResourceSpec = {
  resource: "contexts",
  singular: "Context",
  plural: "Contexts",
  table: contexts,
  keyColumn: contexts.code,
  key: "code",
  keySchema: fields.code,
  record: z.object({ ...fields, ...recordBookkeeping }).openapi("Context"),
  create: z.object(fields).openapi("ContextInput"),
  patch: z.object(mutable).partial().strict().openapi("ContextPatch"),
  columns: [
    { name: "code", kind: "text" },
    { name: "description", kind: "text" },
    { name: "active", kind: "bool" },
  ],
  searchFields: ["code", "description"],
  filters: z.object({
    active: booleanQuery.openapi({ description: "Only active (true) or inactive (false)", example: "true" }),
  }),
  filterWhere: (f) => [
    f.active === undefined ? undefined : eq(contexts.active, asBoolean(f.active) as boolean),
  ],
};
