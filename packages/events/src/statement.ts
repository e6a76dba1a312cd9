import { type Database, rowsOf } from "@fig/db";
import { sql } from "drizzle-orm";

type Unsafe = (query: string, params: unknown[], options: { prepare: boolean }) => PromiseLike<unknown>;

/**
 * postgres.js underneath (the server's driver): its `unsafe` runs our fixed text as a named prepared statement,
 * without drizzle's query building and result mapping (about a third of an event's cost in the writer). PGlite
 * (the embedded database) has no such call and goes through drizzle.
 */
function postgresJsOf(tx: Database): Unsafe | undefined {
  const client = (tx._.session as unknown as { client?: { unsafe?: unknown } }).client;
  return typeof client?.unsafe === "function" ? (client.unsafe.bind(client) as Unsafe) : undefined;
}

/**
 * Runs one fixed statement text with `$n` placeholders in `tx`: prepared once per connection through postgres.js on
 * a server, the same text through drizzle on PGlite. The outbox's inserts and the consumer's inbox insert use it.
 */
export async function runStatement(
  tx: Database,
  text: string,
  params: unknown[],
): Promise<Record<string, unknown>[]> {
  const unsafe = postgresJsOf(tx);
  if (unsafe) return (await unsafe(text, params, { prepare: true })) as Record<string, unknown>[];
  // drizzle's sql with the same text: `$n` placeholders become its own parameters.
  const chunks = text.split(/\$(\d+)/);
  const query = sql.empty();
  chunks.forEach((chunk, i) => {
    if (i % 2 === 0) query.append(sql.raw(chunk));
    else query.append(sql`${params[Number(chunk) - 1]}`);
  });
  return rowsOf<Record<string, unknown>>(await tx.execute(query));
}
