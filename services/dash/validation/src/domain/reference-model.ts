import type { ReferenceSnapshot, Severity } from "@dash/billing";
import { mintDevToken, type ServiceTokenSource } from "@fig/auth";
import { type Database, rowsOf } from "@fig/db";
import { type Backoff, retry } from "@fig/retry";
import type { Logger } from "@fig/service";
import { parse } from "csv-parse/sync";
import { sql } from "drizzle-orm";
import { refCodes, refContexts, refEstablishments, refRules } from "../db/schema.ts";

export type ReferenceTable = "codes" | "contexts" | "establishments" | "rules";
export const REFERENCE_TABLES: ReferenceTable[] = ["codes", "contexts", "establishments", "rules"];

export type ReferenceSource = {
  url: string;
  /** A fixed token, or how to mint a short-lived dev one. */
  token?: string | undefined;
  /** Service tokens from the identity service (client credentials, scope reference:export), before a dev one. */
  tokenSource?: ServiceTokenSource | undefined;
  dev?: { secret: string; issuer: string; audience: string } | undefined;
};

async function bearer(source: ReferenceSource): Promise<string> {
  if (source.token) return source.token;
  if (source.tokenSource) return source.tokenSource();
  if (!source.dev) throw new Error("No token for reference-data");
  return mintDevToken({
    ...source.dev,
    sub: "validation",
    tenant: "fig-system",
    roles: ["viewer"],
    ttl: "5m",
  });
}

/** Reads one table from reference-data's export (the same CSV its import takes). */
export async function fetchReferenceTable(
  source: ReferenceSource,
  table: ReferenceTable,
  signal?: AbortSignal,
): Promise<Record<string, string>[]> {
  const timeout = AbortSignal.timeout(30_000);
  const res = await fetch(`${source.url}/api/${table}/export`, {
    headers: { authorization: `Bearer ${await bearer(source)}` },
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  if (!res.ok) throw new Error(`reference-data ${table} export: HTTP ${res.status}`);
  return parse(await res.text(), { columns: true, skip_empty_lines: true, bom: true });
}

const bool = (v: string | undefined) => v === "true";
const intOrNull = (v: string | undefined) => (v ? Number(v) : null);

/** Replaces the local copy of one table, in the caller's transaction. */
export async function replaceReferenceTable(
  tx: Database,
  table: ReferenceTable,
  rows: Record<string, string>[],
) {
  const batches = <T>(items: T[], size = 1000) =>
    Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
  switch (table) {
    case "codes":
      await tx.delete(refCodes);
      for (const b of batches(rows)) {
        await tx.insert(refCodes).values(
          b.map((r) => ({
            code: r.code as string,
            tariff_cents: Number(r.tariff_cents),
            place_of_service: r.place_of_service as string,
            requires_context: bool(r.requires_context),
            max_per_day: intOrNull(r.max_per_day),
            effective_from: r.effective_from as string,
            effective_to: r.effective_to || null,
            active: bool(r.active),
          })),
        );
      }
      return;
    case "contexts":
      await tx.delete(refContexts);
      for (const b of batches(rows))
        await tx
          .insert(refContexts)
          .values(b.map((r) => ({ code: r.code as string, active: bool(r.active) })));
      return;
    case "establishments":
      await tx.delete(refEstablishments);
      for (const b of batches(rows)) {
        await tx.insert(refEstablishments).values(
          b.map((r) => ({
            number: r.number as string,
            type: r.type as string,
            region: r.region as string,
            active: bool(r.active),
          })),
        );
      }
      return;
    case "rules":
      await tx.delete(refRules);
      for (const b of batches(rows)) {
        await tx.insert(refRules).values(
          b.map((r) => ({
            id: r.id as string,
            severity: r.severity as string,
            enabled: bool(r.enabled),
            params: JSON.parse(r.params || "{}"),
          })),
        );
      }
      return;
  }
}

/** Pulls every table from reference-data into the read model (at start, and when an event says a table changed). */
export async function syncReferenceData(
  db: Database,
  source: ReferenceSource,
  { tables = REFERENCE_TABLES, signal }: { tables?: ReferenceTable[]; signal?: AbortSignal } = {},
) {
  const fetched = await Promise.all(
    tables.map(async (t) => [t, await fetchReferenceTable(source, t, signal)] as const),
  );
  await db.transaction(async (tx) => {
    for (const [table, rows] of fetched) await replaceReferenceTable(tx as unknown as Database, table, rows);
  });
  return Object.fromEntries(fetched.map(([t, rows]) => [t, rows.length]));
}

/** True once the read model holds reference data (seeded now or by an earlier run). */
export async function referenceModelReady(db: Database): Promise<boolean> {
  const rows = await db.execute(
    sql`select exists(select 1 from ref_codes) and exists(select 1 from ref_rules) as ready`,
  );
  return rowsOf<{ ready: boolean }>(rows)[0]?.ready === true;
}

/** The read model as the rule engine sees it. */
export async function loadReferenceSnapshot(db: Database): Promise<ReferenceSnapshot> {
  const [codes, contexts, establishments, rules] = await Promise.all([
    db.select().from(refCodes),
    db.select().from(refContexts),
    db.select().from(refEstablishments),
    db.select().from(refRules),
  ]);
  return {
    codes: new Map(
      codes.map((c) => [
        c.code,
        { ...c, place_of_service: c.place_of_service as "cabinet" | "etablissement" | "both" },
      ]),
    ),
    contexts: new Map(contexts.map((c) => [c.code, c])),
    establishments: new Map(establishments.map((e) => [e.number, e])),
    rules: new Map(rules.map((r) => [r.id, { ...r, severity: r.severity as Severity }])),
  };
}

export type ReferenceModelSeeder = {
  name: string;
  start(): void;
  stop(): Promise<void>;
  /** Readiness: resolves once the read model holds data (seeded now or by an earlier run). */
  check(): Promise<void>;
};

/**
 * Seeds the read model from reference-data at start, retrying in the background (exponential backoff)
 * while reference-data is unreachable; the service keeps its last copy meanwhile. `stop()` cuts the
 * attempt in flight and the wait, so shutdown never waits on reference-data.
 */
export function createReferenceModelSeeder({
  db,
  source,
  logger,
  backoff = { initialMs: 1000, maxMs: 30_000 },
}: {
  db: Database;
  source: ReferenceSource;
  logger: Pick<Logger, "info" | "warn">;
  backoff?: Backoff;
}): ReferenceModelSeeder {
  const stopping = new AbortController();
  let seeded = false;
  let running: Promise<void> | undefined;
  return {
    name: "reference read model seed",
    start() {
      running = retry((signal) => syncReferenceData(db, source, { signal }), {
        backoff,
        signal: stopping.signal,
        onRetry: ({ error, delayMs }) =>
          logger.warn(
            { err: error, retryInMs: delayMs },
            "reference-data unreachable; the read model keeps its last copy",
          ),
      }).then(
        (counts) => {
          seeded = true;
          logger.info({ counts }, "reference read model seeded from reference-data");
        },
        () => {}, // only an abort ends the retries, and that is shutdown
      );
    },
    async stop() {
      stopping.abort(new Error("shutting down"));
      await running;
    },
    async check() {
      if (!seeded && !(await referenceModelReady(db))) throw new Error("read model not seeded yet");
    },
  };
}
