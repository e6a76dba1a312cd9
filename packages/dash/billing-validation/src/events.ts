import { defineEvent, registerEvents } from "@fig/events";
import { z } from "zod";

// Dash's billing-file validation events, declared here (Dash's code) and added to Fig's catalog when this module
// loads. The validation service publishes them; its worker takes `validation.requested` from the jobs channel.

export const validationEventCatalog = {
  "file.uploaded": defineEvent({
    type: "file.uploaded",
    version: 1,
    source: "validation",
    tenantOwned: true,
    description: "A billing CSV was stored in the object store.",
    schema: z
      .object({
        fileId: z.uuid(),
        name: z.string(),
        bytes: z.number().int().nonnegative(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
      })
      .strict(),
  }),
  "validation.queued": defineEvent({
    type: "validation.queued",
    version: 1,
    source: "validation",
    tenantOwned: true,
    description: "A validation run was requested for a file.",
    schema: z.object({ validationId: z.uuid(), fileId: z.uuid() }).strict(),
  }),
  "validation.requested": defineEvent({
    type: "validation.requested",
    version: 1,
    source: "validation",
    tenantOwned: true,
    channel: "jobs",
    description: "The job message a validation worker takes: validate this file for this run.",
    schema: z.object({ validationId: z.uuid(), fileId: z.uuid() }).strict(),
  }),
  "validation.completed": defineEvent({
    type: "validation.completed",
    version: 1,
    source: "validation",
    tenantOwned: true,
    description: "A validation run finished; counts of findings by severity.",
    schema: z
      .object({
        validationId: z.uuid(),
        rows: z.number().int().nonnegative(),
        errors: z.number().int().nonnegative(),
        warnings: z.number().int().nonnegative(),
        durationMs: z.number().int().nonnegative(),
      })
      .strict(),
  }),
  "validation.failed": defineEvent({
    type: "validation.failed",
    version: 1,
    source: "validation",
    tenantOwned: true,
    description: "A validation run could not complete (for example, the header is unusable).",
    schema: z.object({ validationId: z.uuid(), reason: z.string() }).strict(),
  }),
} as const;

registerEvents(validationEventCatalog);

type ValidationEvents = typeof validationEventCatalog;

declare module "@fig/events/catalog" {
  interface EventRegistry extends ValidationEvents {}
}
