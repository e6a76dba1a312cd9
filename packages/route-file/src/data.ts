import { z } from "zod";

/** A Postgres identifier as written in the database, unquoted (lower case, digits, `_`). */
const column = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a column or table name: lowercase letters, digits and '_'");

const eventType = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/,
    "must be an event type <entity>.<verb> (like data.changed)",
  );

const consumerName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,200}$/, "must be a JetStream consumer name: letters, digits, '_' and '-'");

/**
 * One table that moves with the route. Both sides hold it under the same name and columns; the write owner
 * bumps `version` (or sets `updatedAt`) on every write, which is how a replica tells a newer row from an older one.
 */
export const dataTableSchema = z
  .object({
    /** The table's name on both sides. */
    name: column,
    /** Its key column, or columns for a composite key (in index order: backfill pages by them). */
    key: z.union([column.transform((c) => [c]), z.array(column).min(1)]),
    /** An integer column the owner increments on every write of a row. */
    version: column.optional(),
    /** A timestamp column the owner sets on every write; compared when no `version` is declared. */
    updatedAt: column.optional(),
    /** The columns verify compares (besides the key); default: every column of the table, minus `exclude`. */
    columns: z.array(column).min(1).optional(),
    /** Columns verify leaves out: derived ones (a search text) that each side computes itself. */
    exclude: z.array(column).default([]),
  })
  .strict()
  .superRefine((t, ctx) => {
    if (!t.version && !t.updatedAt)
      ctx.addIssue({
        code: "custom",
        path: ["version"],
        message:
          "declare version (an integer bumped on every write) or updatedAt (a timestamp set on every write)",
      });
    if (t.columns && t.exclude.length > 0)
      ctx.addIssue({ code: "custom", path: ["exclude"], message: "declare columns or exclude, not both" });
    for (const [i, k] of t.key.entries())
      if (t.exclude.includes(k))
        ctx.addIssue({
          code: "custom",
          path: ["exclude"],
          message: `the key column ${k} cannot be excluded`,
        });
      else if (t.key.indexOf(k) !== i)
        ctx.addIssue({ code: "custom", path: ["key", i], message: `${k} is listed twice` });
  });

/**
 * The `fig.data` of a route: the tables data sync backfills, syncs, verifies and flips with the route's write
 * ownership. Each side's database is its upstream's `database:`; the write owner publishes `event` (its rows,
 * their version and a per-key sequence) through its outbox, and the other side's consumer applies it.
 *
 * @example
 * data:
 *   tables:
 *     - { name: patients, key: id, version: version }
 *     - { name: appointments, key: [clinic_id, slot], updatedAt: updated_at }
 */
export const dataDeclarationSchema = z
  .object({
    /** The change event each side publishes (its catalog entry carries table, op, keys, rows, sequence). */
    event: eventType.default("data.changed"),
    /**
     * Upstream → the durable consumer (run by the other side) that applies that upstream's changes; an
     * upstream not named gets `<other side>-<route>-sync`.
     */
    consumers: z.record(z.string(), consumerName).default({}),
    tables: z
      .array(dataTableSchema)
      .min(1, "declare at least one table")
      .superRefine((tables, ctx) => {
        const seen = new Map<string, number>();
        tables.forEach((t, i) => {
          const first = seen.get(t.name);
          if (first !== undefined)
            ctx.addIssue({
              code: "custom",
              path: [i, "name"],
              message: `table ${t.name} is declared twice (also tables[${first}])`,
            });
          else seen.set(t.name, i);
        });
      }),
  })
  .strict();

export type DataDeclaration = z.output<typeof dataDeclarationSchema>;
export type DataDeclarationInput = z.input<typeof dataDeclarationSchema>;
export type DataTableDeclaration = z.output<typeof dataTableSchema>;
