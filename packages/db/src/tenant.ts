import { sql } from "drizzle-orm";
import type { Database } from "./database.ts";

/** The non-superuser role tenant transactions run as (created by each service's RLS migration). */
export const TENANT_ROLE = "fig_tenant";

/**
 * Runs `fn` in a transaction scoped to one tenant: `app.tenant_id` is set for the transaction only
 * (set_config(..., true)) and the role drops to fig_tenant, which is neither superuser nor owner,
 * so row-level security policies apply even when the service connected as a superuser.
 *
 * @example
 * const rows = await withTenant(db, auth.tenant, (tx) => tx.select().from(files));
 */
export async function withTenant<T>(
  db: Database,
  tenant: string,
  fn: (tx: Database) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select set_config('app.tenant_id', ${tenant}, true)`);
    await tx.execute(sql.raw(`set local role ${TENANT_ROLE}`));
    return fn(tx as unknown as Database);
  });
}
