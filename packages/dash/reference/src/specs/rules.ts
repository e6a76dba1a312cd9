import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { asBoolean, booleanQuery, recordBookkeeping, text } from "../fields.ts";
import type { ResourceSpec } from "../resource.ts";
import { rules } from "../tables.ts";

const fields = {
  id: z
    .string()
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, "must be a lower-case slug")
    .max(80)
    .openapi({
      description: "Rule id (slug), as the validation engine knows it",
      example: "service-too-old",
    }),
  name: text(1, 200).openapi({ description: "Human name", example: "Service de plus de 90 jours" }),
  category: text(1, 40).openapi({ description: "What the rule looks at", example: "date" }),
  severity: z
    .enum(["error", "warning", "info"])
    .openapi({ description: "Severity of a finding", example: "error" }),
  enabled: z.boolean().openapi({ description: "Disabled rules do not run", example: true }),
  params: z
    .record(z.string(), z.unknown())
    .refine((p) => !JSON.stringify(p).includes("\\u0000"), "must not contain NUL characters")
    .openapi({ description: "Rule parameters (a JSON object)", example: { maxDays: 90 } }),
};
const { id: _key, ...mutable } = fields;

export const rulesSpec: ResourceSpec = {
  resource: "rules",
  singular: "Rule",
  plural: "Rules",
  table: rules,
  keyColumn: rules.id,
  key: "id",
  keySchema: fields.id,
  record: z.object({ ...fields, ...recordBookkeeping }).openapi("Rule"),
  create: z.object(fields).openapi("RuleInput"),
  patch: z.object(mutable).partial().strict().openapi("RulePatch"),
  columns: [
    { name: "id", kind: "text" },
    { name: "name", kind: "text" },
    { name: "category", kind: "text" },
    { name: "severity", kind: "text" },
    { name: "enabled", kind: "bool" },
    { name: "params", kind: "json" },
  ],
  searchFields: ["id", "name"],
  filters: z.object({
    active: booleanQuery.openapi({
      description: "Only enabled (true) or disabled (false) rules",
      example: "true",
    }),
    category: z.string().max(40).optional().openapi({ description: "Exact category", example: "date" }),
    severity: fields.severity.optional(),
  }),
  filterWhere: (f) => [
    f.active === undefined ? undefined : eq(rules.enabled, asBoolean(f.active) as boolean),
    f.category ? eq(rules.category, String(f.category)) : undefined,
    f.severity ? eq(rules.severity, f.severity as "error") : undefined,
  ],
};
