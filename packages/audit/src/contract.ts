// The audit log's HTTP contract: the audit service serves it, the gateway's GET /_fig/audit forwards it.
import { z } from "@hono/zod-openapi";

const HASH_EXAMPLE = "9f2c6b1e0d4a7c3b5e8f1a2d6c9b0e3f7a1d4c8b2e5f9a0c3d6b1e4f7a2c5d8b";

export const AuditEntrySchema = z
  .object({
    seq: z.number().int().openapi({ description: "Place in the chain, from 1, no gaps", example: 42 }),
    eventId: z.string().openapi({
      description: "The producer's event id (Nats-Msg-Id): appended once",
      example: "route:validation:rev:12",
    }),
    at: z.iso
      .datetime()
      .openapi({ description: "When the act happened", example: "2026-12-07T08:00:00.000Z" }),
    actor: z
      .object({
        sub: z.string().openapi({ example: "alice" }),
        tenant: z.string().nullable().openapi({ example: "platform" }),
      })
      .openapi({ description: "Who: the token's `sub` and tenant" }),
    kind: z.string().openapi({ example: "weights" }),
    subject: z
      .string()
      .nullable()
      .openapi({ description: "A route id, a user, a consumer", example: "validation" }),
    from: z.unknown().openapi({ example: { monolith: 100, validation: 0 } }),
    to: z.unknown().openapi({ example: { monolith: 90, validation: 10 } }),
    reason: z.string().nullable().openapi({ example: "canary step 1" }),
    data: z
      .record(z.string(), z.unknown())
      .nullable()
      .openapi({ description: "The numbers behind the act", example: { p95Ms: 182, errorRate: 0.002 } }),
    prevHash: z.string().openapi({ description: "The previous entry's hash", example: HASH_EXAMPLE }),
    hash: z.string().openapi({
      description: "sha256(prevHash ‖ canonical JSON of eventId and the record)",
      example: HASH_EXAMPLE,
    }),
  })
  .openapi("AuditEntry");

const text = (description: string, example: string) =>
  z.string().min(1).max(200).optional().openapi({ description, example });

/** The filters and page of a read of the log. */
export const AuditQuerySchema = z.object({
  actor: text("Only entries by this `sub`", "alice"),
  route: text("Only entries about this route (or other subject)", "validation"),
  kind: text("Only this kind of act", "weights"),
  from: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "At or after this time", example: "2026-12-07T00:00:00Z" }),
  to: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "Before this time", example: "2026-12-08T00:00:00Z" }),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(200)
    .default(50)
    .openapi({ description: "Page size (1–200)", example: 50 }),
  cursor: z
    .string()
    .max(512)
    .optional()
    .openapi({ description: "Opaque cursor from `nextCursor`", example: "eyJiZWZvcmUiOjQyfQ" }),
});

export const AuditEntryPageSchema = z
  .object({
    items: z.array(AuditEntrySchema),
    nextCursor: z.string().nullable().openapi({
      description: "Pass as `cursor` for the next page; null on the last page",
      example: null,
    }),
  })
  .openapi("AuditEntryPage");

export const AuditVerificationSchema = z
  .object({
    ok: z.boolean().openapi({ example: true }),
    count: z.number().int().optional().openapi({ description: "Entries checked", example: 42 }),
    seq: z.number().int().optional().openapi({ description: "The first bad entry", example: 7 }),
    problem: z.enum(["changed", "removed", "reordered"]).optional(),
    detail: z.string().optional(),
  })
  .openapi("AuditVerification");
