import { fileURLToPath } from "node:url";
import type { Database } from "@fig/db";
import { outbox } from "@fig/events";
import {
  codesSpec,
  contextsSpec,
  establishmentsSpec,
  type ResourceSpec,
  type Row,
  rulesSpec,
} from "../src/index.ts";

/** reference-data's migrations: the four tables plus the outbox the store's events go through. */
export const REFERENCE_MIGRATIONS = fileURLToPath(
  new URL("../../../../services/dash/reference-data/drizzle", import.meta.url),
);

/** One valid record per table, with a key of its own (`n` varies it), and a PATCH that changes it. */
export type Sample = { spec: ResourceSpec; input: (n: number) => Row; patch: Row };

export const SAMPLES: Sample[] = [
  {
    spec: codesSpec,
    input: (n) => ({
      code: String(10000 + n),
      description: `Accès vasculaire ${n}`,
      category: "examen",
      tariff_cents: 1000 + n,
      unit: "acte",
      place_of_service: "both",
      requires_context: false,
      max_per_day: null,
      effective_from: "2015-01-01",
      effective_to: null,
      active: true,
    }),
    patch: { tariff_cents: 4321, description: "Examen modifié" },
  },
  {
    spec: contextsSpec,
    input: (n) => ({ code: `C${n}`, description: `Contexte ${n}`, active: true }),
    patch: { active: false },
  },
  {
    spec: establishmentsSpec,
    input: (n) => ({
      number: String(20000 + n),
      name: `CLSC ${n}`,
      type: "CLSC",
      region: "06",
      active: true,
    }),
    patch: { region: "03", name: "CLSC déménagé" },
  },
  {
    spec: rulesSpec,
    input: (n) => ({
      id: `rule-${n}`,
      name: `Règle ${n}`,
      category: "date",
      severity: "warning",
      enabled: true,
      params: { maxDays: n, nested: { list: [1, "two"] } },
    }),
    patch: { severity: "error", params: { maxDays: 1 } },
  },
];

/** The reference.changed events in the outbox, oldest first. */
export async function outboxEvents(db: Database) {
  const rows = await db.select().from(outbox).orderBy(outbox.seq);
  return rows.map((r) => ({ ...r, data: r.data as Record<string, unknown> }));
}

/** A CSV body as the HTTP layer hands it to importCsv. */
export const csvBody = (text: string | Uint8Array<ArrayBuffer>) =>
  new Response(text).body as ReadableStream<Uint8Array>;

/** Reads an exported stream to text. */
export const readAll = (stream: ReadableStream<Uint8Array>) => new Response(stream).text();
