import type { Database } from "@fig/db";
import { AppError } from "@fig/service";
import { eq, inArray, sql } from "drizzle-orm";
import { loginThrottleTable } from "../db/schema.ts";

// Failed logins are counted per account and per client address in a window; at the limit the key is locked
// for `lockoutSeconds` and every login on it is answered 429 before any password is checked.

export type ThrottleSettings = {
  accountMaxFailures: number;
  ipMaxFailures: number;
  windowSeconds: number;
  lockoutSeconds: number;
};

export const accountKey = (tenant: string, email: string) => `account:${tenant}:${email}`;
export const ipKey = (ip: string) => `ip:${ip}`;

/** Throws 429 (with Retry-After) when any of `keys` is locked. */
export async function assertNotLocked(db: Database, keys: string[]): Promise<void> {
  const rows = await db
    .select({ until: loginThrottleTable.locked_until })
    .from(loginThrottleTable)
    .where(inArray(loginThrottleTable.key, keys));
  const until = Math.max(0, ...rows.map((row) => row.until?.getTime() ?? 0));
  const seconds = Math.ceil((until - Date.now()) / 1000);
  if (seconds <= 0) return;
  throw new AppError("rate_limited", `Too many failed logins; try again in ${seconds} s`, {
    headers: { "retry-after": String(seconds) },
    extensions: { retryAfterSeconds: seconds },
  });
}

/** Counts one failure on `key`; locks it when the window's count reaches `max`. */
export async function recordFailure(db: Database, key: string, max: number, settings: ThrottleSettings) {
  const windowStart = sql`now() - make_interval(secs => ${settings.windowSeconds})`;
  const [row] = await db
    .insert(loginThrottleTable)
    .values({ key, failures: 1, window_started_at: sql`now()` })
    .onConflictDoUpdate({
      target: loginThrottleTable.key,
      set: {
        failures: sql`case when ${loginThrottleTable.window_started_at} < ${windowStart} then 1 else ${loginThrottleTable.failures} + 1 end`,
        window_started_at: sql`case when ${loginThrottleTable.window_started_at} < ${windowStart} then now() else ${loginThrottleTable.window_started_at} end`,
      },
    })
    .returning({ failures: loginThrottleTable.failures });
  if ((row?.failures ?? 0) < max) return;
  // Locked: the count starts again once the lock ends.
  await db
    .update(loginThrottleTable)
    .set({
      failures: 0,
      window_started_at: sql`now()`,
      locked_until: sql`now() + make_interval(secs => ${settings.lockoutSeconds})`,
    })
    .where(eq(loginThrottleTable.key, key));
}

/** A successful login clears its account's failures (never the address's: one good password proves little). */
export async function clearFailures(db: Database, key: string): Promise<void> {
  await db.delete(loginThrottleTable).where(eq(loginThrottleTable.key, key));
}
