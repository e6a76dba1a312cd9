import { z } from "@hono/zod-openapi";

/** Fields shared by every reference record in responses. */
export const recordBookkeeping = {
  version: z.number().int().openapi({ description: "Incremented on every change", example: 3 }),
  updated_at: z.iso
    .datetime()
    .openapi({ description: "Time of the last change (UTC)", example: "2026-11-02T14:03:11.512Z" }),
};

export const isoDate = z.iso.date();

/** Query filter for booleans: the literal strings `true` / `false`. */
export const booleanQuery = z.enum(["true", "false"]).optional();
export const asBoolean = (value: unknown) => (value === undefined ? undefined : value === "true");

// Shared with every service: text without NUL, integers that fit int4.
export { int4 as int32, pgText as text } from "@fig/service";
