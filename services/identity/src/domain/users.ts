import { type Database, withTenant } from "@fig/db";
import { enqueueEvent } from "@fig/events";
import { DomainError } from "@fig/service";
import { and, asc, eq, gt } from "drizzle-orm";
import { usersTable } from "../db/schema.ts";
import { hashPassword } from "./passwords.ts";
import { randomSecret, sha256 } from "./secrets.ts";
import { revokeUserSessions } from "./sessions.ts";

// A tenant's users, managed by its admins. Every verb runs in withTenant: another tenant's users are invisible
// (row-level security), so an admin of one tenant gets 404 for another's.

export type UserRow = typeof usersTable.$inferSelect;
export type Caller = { tenant: string; sub: string };
export type UserStatus = "invited" | "active" | "disabled";

/** An invitation's set-password token lives this long. */
export const INVITE_TTL_MS = 72 * 3600 * 1000;

export function presentUser(row: UserRow) {
  return {
    id: row.id,
    email: row.email,
    roles: row.roles,
    status: row.status as UserStatus,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

export async function listUsers(
  db: Database,
  tenant: string,
  input: { limit: number; after?: string | undefined },
) {
  const rows = await withTenant(db, tenant, (tx) =>
    tx
      .select()
      .from(usersTable)
      .where(input.after ? gt(usersTable.email, input.after) : undefined)
      .orderBy(asc(usersTable.email))
      .limit(input.limit + 1),
  );
  const page = rows.slice(0, input.limit);
  return {
    items: page.map(presentUser),
    nextCursor: rows.length > input.limit ? (page.at(-1)?.email ?? null) : null,
  };
}

/**
 * Creates an invited user (no password) and returns the one-time token with which they set one
 * (`POST /api/auth/set-password`). Only its hash is stored; an email already in the tenant is 409.
 */
export async function inviteUser(
  db: Database,
  caller: Caller,
  input: { email: string; roles: string[] },
): Promise<{ user: UserRow; inviteToken: string; inviteExpiresAt: Date }> {
  const email = input.email.trim().toLowerCase();
  const inviteToken = randomSecret("inv_");
  const inviteExpiresAt = new Date(Date.now() + INVITE_TTL_MS);
  const user = await withTenant(db, caller.tenant, async (tx) => {
    const [taken] = await tx
      .select({ id: usersTable.id })
      .from(usersTable)
      .where(eq(usersTable.email, email));
    if (taken) throw new DomainError("already_exists", `A user with email ${email} already exists`);
    const [row] = await tx
      .insert(usersTable)
      .values({
        id: crypto.randomUUID(),
        tenant_id: caller.tenant,
        email,
        roles: input.roles,
        status: "invited",
        invite_token_hash: sha256(inviteToken),
        invite_expires_at: inviteExpiresAt,
        created_by: caller.sub,
      })
      .returning();
    const created = row as UserRow;
    await enqueueEvent(
      tx,
      "identity.user.invited",
      { userId: created.id, email, roles: input.roles, by: caller.sub },
      { tenant: caller.tenant },
    );
    return created;
  });
  return { user, inviteToken, inviteExpiresAt };
}

export async function getUser(db: Database, tenant: string, id: string): Promise<UserRow> {
  const [row] = await withTenant(db, tenant, (tx) =>
    tx.select().from(usersTable).where(eq(usersTable.id, id)),
  );
  if (!row) throw new DomainError("not_found", `User ${id} does not exist`);
  return row;
}

/** Changes roles and/or disables (or re-enables) a user; disabling revokes every session it has. */
export async function updateUser(
  db: Database,
  caller: Caller,
  id: string,
  changes: { roles?: string[] | undefined; disabled?: boolean | undefined },
): Promise<UserRow> {
  const { before, after } = await withTenant(db, caller.tenant, async (tx) => {
    // Locked, so two concurrent changes record their from/to in order.
    const [row] = await tx.select().from(usersTable).where(eq(usersTable.id, id)).for("update");
    if (!row) throw new DomainError("not_found", `User ${id} does not exist`);
    if (changes.disabled !== undefined && row.status === "invited")
      throw new DomainError("unprocessable", "An invited user has no account to disable or enable yet");
    const status = changes.disabled === undefined ? row.status : changes.disabled ? "disabled" : "active";
    const roles = changes.roles ?? row.roles;
    const [updated] = await tx
      .update(usersTable)
      .set({ roles, status, updated_at: new Date() })
      .where(eq(usersTable.id, id))
      .returning();
    const rolesChanged = roles.join(",") !== row.roles.join(",");
    if (rolesChanged || status !== row.status)
      await enqueueEvent(
        tx,
        "identity.user.changed",
        {
          userId: id,
          by: caller.sub,
          ...(rolesChanged ? { roles: { from: row.roles, to: roles } } : {}),
          ...(status !== row.status ? { status: { from: row.status, to: status } } : {}),
        },
        { tenant: caller.tenant },
      );
    return { before: row, after: updated as UserRow };
  });
  // Sessions are the service's own table (not fig_tenant's), so they are revoked outside withTenant.
  if (after.status === "disabled" && before.status !== "disabled")
    await db.transaction((tx) => revokeUserSessions(tx, caller.tenant, id));
  return after;
}

/** The invited user sets a password with the one-time token: the account becomes active, the token void. */
export async function acceptInvite(
  db: Database,
  input: { tenant: string; token: string; password: string },
): Promise<UserRow> {
  const hash = await hashPassword(input.password);
  return withTenant(db, input.tenant, async (tx) => {
    const [row] = await tx
      .update(usersTable)
      .set({
        password_hash: hash,
        status: "active",
        invite_token_hash: null,
        invite_expires_at: null,
        updated_at: new Date(),
      })
      .where(
        and(
          eq(usersTable.invite_token_hash, sha256(input.token)),
          eq(usersTable.status, "invited"),
          gt(usersTable.invite_expires_at, new Date()),
        ),
      )
      .returning();
    if (!row)
      throw new DomainError("invalid", "The invitation token is not valid (wrong, used or expired)", {
        errors: [{ location: "body.token", message: "not a live invitation token" }],
      });
    await enqueueEvent(
      tx,
      "identity.user.changed",
      { userId: row.id, by: row.id, status: { from: "invited", to: "active" }, passwordSet: true },
      { tenant: input.tenant },
    );
    return row;
  });
}

/** For seeds and the bench: an active user with a password, created or left as it is. */
export async function ensureActiveUser(
  db: Database,
  input: {
    tenant: string;
    email: string;
    password: string;
    roles: string[];
    by: string;
    /** The password's hash when the caller already has one (a seed hashing one shared password once). */
    hash?: () => Promise<string>;
  },
): Promise<void> {
  const email = input.email.toLowerCase();
  // A hash costs tens of milliseconds: not paid at every dev start for users already there.
  const [existing] = await withTenant(db, input.tenant, (tx) =>
    tx.select({ id: usersTable.id }).from(usersTable).where(eq(usersTable.email, email)),
  );
  if (existing) return;
  const hash = await (input.hash ? input.hash() : hashPassword(input.password));
  await withTenant(db, input.tenant, (tx) =>
    tx
      .insert(usersTable)
      .values({
        id: crypto.randomUUID(),
        tenant_id: input.tenant,
        email,
        password_hash: hash,
        roles: input.roles,
        status: "active",
        created_by: input.by,
      })
      .onConflictDoNothing(),
  );
}
