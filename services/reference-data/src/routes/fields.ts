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

/** Text a Postgres `text` column can hold: Postgres rejects NUL characters, so they are a 400, not a 500. */
export const text = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !s.includes("\u0000"), "must not contain NUL characters");

/** Whole numbers that fit the `integer` (int4) columns. */
export const int32 = z.number().int().min(-2147483648).max(2147483647);
