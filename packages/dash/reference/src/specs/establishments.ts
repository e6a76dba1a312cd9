import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { asBoolean, booleanQuery, recordBookkeeping, text } from "../fields.ts";
import type { ResourceSpec } from "../resource.ts";
import { establishments } from "../tables.ts";

const region = z.string().regex(/^(0[1-9]|1[0-8])$/, "must be an RSS region 01–18");
const fields = {
  number: z
    .string()
    .regex(/^\d{5}$/, "must be 5 digits")
    .openapi({ description: "RAMQ establishment number (5 digits)", example: "04521" }),
  name: text(1, 200).openapi({ description: "Name", example: "CLSC de Rosemont" }),
  type: text(1, 20).openapi({
    description: "Kind of establishment: CLSC, CH, CHSLD, CHU, GMF, cabinet, UMF, CR, …",
    example: "CLSC",
  }),
  region: region.openapi({ description: "Health region (RSS), 01–18", example: "06" }),
  active: z.boolean().openapi({ description: "Closed establishments are kept for history", example: true }),
};
const { number: _key, ...mutable } = fields;

export const establishmentsSpec: ResourceSpec = {
  resource: "establishments",
  singular: "Establishment",
  plural: "Establishments",
  table: establishments,
  keyColumn: establishments.number,
  key: "number",
  keySchema: fields.number,
  record: z.object({ ...fields, ...recordBookkeeping }).openapi("Establishment"),
  create: z.object(fields).openapi("EstablishmentInput"),
  patch: z.object(mutable).partial().strict().openapi("EstablishmentPatch"),
  columns: [
    { name: "number", kind: "text" },
    { name: "name", kind: "text" },
    { name: "type", kind: "text" },
    { name: "region", kind: "text" },
    { name: "active", kind: "bool" },
  ],
  searchFields: ["number", "name"],
  filters: z.object({
    active: booleanQuery.openapi({ description: "Only active (true) or inactive (false)", example: "true" }),
    type: z.string().max(20).optional().openapi({ description: "Exact type", example: "CLSC" }),
    region: region.optional().openapi({ description: "Health region (RSS)", example: "06" }),
  }),
  filterWhere: (f) => [
    f.active === undefined ? undefined : eq(establishments.active, asBoolean(f.active) as boolean),
    f.type ? eq(establishments.type, String(f.type)) : undefined,
    f.region ? eq(establishments.region, String(f.region)) : undefined,
  ],
};
