import { z } from "@hono/zod-openapi";

/** Largest value of a Postgres `integer` (int4) column. */
export const INT4_MAX = 2_147_483_647;

/**
 * Text a Postgres `text` column can hold: Postgres rejects NUL characters, so they are a 400, not a 500.
 *
 * @example
 * name: pgText(1, 200).openapi({ example: "CLSC de Rosemont" })
 */
export const pgText = (min: number, max: number) =>
  z
    .string()
    .min(min)
    .max(max)
    .refine((s) => !s.includes("\u0000"), "must not contain NUL characters");

/** Whole numbers that fit an `integer` (int4) column. */
export const int4 = z
  .number()
  .int()
  .min(-INT4_MAX - 1)
  .max(INT4_MAX);
