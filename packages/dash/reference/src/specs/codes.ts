import { z } from "@hono/zod-openapi";
import { eq, gte, isNull, lte, or } from "drizzle-orm";
import { asBoolean, booleanQuery, int32, isoDate, recordBookkeeping, text } from "../fields.ts";
import type { ResourceSpec } from "../resource.ts";
import { codes } from "../tables.ts";

const fields = {
  code: z
    .string()
    .regex(/^\d{5}$/, "must be 5 digits")
    .openapi({ description: "RAMQ billing code (5 digits)", example: "00103" }),
  description: text(1, 500).openapi({
    description: "Description (French)",
    example: "Examen complet majeur",
  }),
  category: text(1, 60).openapi({ description: "Family of acts", example: "examen" }),
  tariff_cents: int32.min(1).openapi({ description: "Fee per unit, in cents", example: 8650 }),
  unit: text(1, 30).openapi({ description: "What one unit is", example: "acte" }),
  place_of_service: z.enum(["cabinet", "etablissement", "both"]).openapi({
    description: "Where the act may be billed: private office, establishment, or both",
    example: "both",
  }),
  requires_context: z
    .boolean()
    .openapi({ description: "A context code must accompany the claim line", example: false }),
  max_per_day: int32
    .min(1)
    .nullable()
    .openapi({ description: "Most units per patient per day; null for no limit", example: 1 }),
  effective_from: isoDate.openapi({ description: "First day the code may be billed", example: "2015-01-01" }),
  effective_to: isoDate
    .nullable()
    .openapi({ description: "Last day the code may be billed; null while in effect", example: null }),
  active: z
    .boolean()
    .openapi({ description: "Inactive codes are kept for history but not billable", example: true }),
};
const dateOrder = (v: { effective_from?: string; effective_to?: string | null }) =>
  !v.effective_from || !v.effective_to || v.effective_to >= v.effective_from;
const dateOrderError = { message: "must not be before effective_from", path: ["effective_to"] };

const { code: _key, ...mutable } = fields;

export const codesSpec: ResourceSpec = {
  resource: "codes",
  singular: "Code",
  plural: "Codes",
  table: codes,
  keyColumn: codes.code,
  key: "code",
  keySchema: fields.code,
  record: z.object({ ...fields, ...recordBookkeeping }).openapi("Code"),
  create: z.object(fields).refine(dateOrder, dateOrderError).openapi("CodeInput") as unknown as z.ZodObject,
  patch: z.object(mutable).partial().strict().openapi("CodePatch"),
  columns: [
    { name: "code", kind: "text" },
    { name: "description", kind: "text" },
    { name: "category", kind: "text" },
    { name: "tariff_cents", kind: "int" },
    { name: "unit", kind: "text" },
    { name: "place_of_service", kind: "text" },
    { name: "requires_context", kind: "bool" },
    { name: "max_per_day", kind: "int", nullable: true },
    { name: "effective_from", kind: "date" },
    { name: "effective_to", kind: "date", nullable: true },
    { name: "active", kind: "bool" },
  ],
  searchFields: ["code", "description"],
  filters: z.object({
    active: booleanQuery.openapi({
      description: "Only active (true) or inactive (false) codes",
      example: "true",
    }),
    category: z.string().max(60).optional().openapi({ description: "Exact category", example: "examen" }),
    place_of_service: fields.place_of_service.optional(),
    effective_on: isoDate
      .optional()
      .openapi({ description: "Only codes in effect on this day (YYYY-MM-DD)", example: "2026-11-01" }),
  }),
  filterWhere: (f) => [
    f.active === undefined ? undefined : eq(codes.active, asBoolean(f.active) as boolean),
    f.category ? eq(codes.category, String(f.category)) : undefined,
    f.place_of_service ? eq(codes.place_of_service, f.place_of_service as "both") : undefined,
    f.effective_on ? lte(codes.effective_from, String(f.effective_on)) : undefined,
    f.effective_on
      ? or(isNull(codes.effective_to), gte(codes.effective_to, String(f.effective_on)))
      : undefined,
  ],
};
