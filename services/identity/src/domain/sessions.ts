import { type Database, withTenant } from "@fig/db";
import { enqueueEvent } from "@fig/events";
import { AppError } from "@fig/service";
import { and, eq, isNull } from "drizzle-orm";
import { refreshTokensTable, sessionsTable, usersTable } from "../db/schema.ts";
import type { IdentityContext } from "./context.ts";
import { checkPassword, hashPassword, spendPasswordCheck } from "./passwords.ts";
import { randomSecret, sha256 } from "./secrets.ts";
import { accountKey, assertNotLocked, clearFailures, ipKey, recordFailure } from "./throttle.ts";
import { issueAccessToken } from "./tokens.ts";

// Login, refresh, logout. A session is a family of refresh tokens: each refresh uses its token up and hands out
// the next; a used token presented again means it leaked (or a client raced itself), so the family is revoked.

export type TokenPair = {
  accessToken: string;
  tokenType: "Bearer";
  expiresIn: number;
  refreshToken: string;
  refreshExpiresIn: number;
};

export type LoginInput = { tenant: string; email: string; password: string; ip: string | null };

const badCredentials = () => new AppError("unauthorized", "Email or password is wrong");
const badRefresh = (detail: string) => new AppError("unauthorized", detail);

type UserRow = typeof usersTable.$inferSelect;

async function findUser(db: Database, tenant: string, email: string): Promise<UserRow | undefined> {
  const [user] = await withTenant(db, tenant, (tx) =>
    tx.select().from(usersTable).where(eq(usersTable.email, email)),
  );
  return user;
}

async function startSession(ctx: IdentityContext, tx: Database, user: UserRow) {
  const sessionId = crypto.randomUUID();
  await tx.insert(sessionsTable).values({ id: sessionId, tenant_id: user.tenant_id, user_id: user.id });
  const refreshToken = await addRefreshToken(ctx, tx, sessionId);
  return { sessionId, refreshToken };
}

async function addRefreshToken(ctx: IdentityContext, tx: Database, sessionId: string): Promise<string> {
  const refreshToken = randomSecret("rt_");
  await tx.insert(refreshTokensTable).values({
    token_hash: sha256(refreshToken),
    session_id: sessionId,
    expires_at: new Date(Date.now() + ctx.refreshTtlSeconds * 1000),
  });
  return refreshToken;
}

async function pairFor(ctx: IdentityContext, user: UserRow, refreshToken: string): Promise<TokenPair> {
  const access = await issueAccessToken(ctx.signer, ctx.tokens, {
    sub: user.id,
    tenant: user.tenant_id,
    roles: user.roles,
  });
  return {
    accessToken: access.token,
    tokenType: "Bearer",
    expiresIn: access.expiresIn,
    refreshToken,
    refreshExpiresIn: ctx.refreshTtlSeconds,
  };
}

async function refuseLogin(ctx: IdentityContext, input: LoginInput, email: string): Promise<never> {
  const { db, throttle } = ctx;
  await recordFailure(db, accountKey(input.tenant, email), throttle.accountMaxFailures, throttle);
  if (input.ip) await recordFailure(db, ipKey(input.ip), throttle.ipMaxFailures, throttle);
  await db.transaction((tx) =>
    enqueueEvent(
      tx,
      "identity.login.failed",
      { email, ip: input.ip, reason: "bad_credentials" },
      { tenant: input.tenant },
    ),
  );
  throw badCredentials();
}

/**
 * Tenant, email and password → an access token and the first refresh token of a new session. Refused with
 * 401 for any wrong detail (the same answer whichever it was) and 429 while the account or address is locked.
 */
export async function login(ctx: IdentityContext, input: LoginInput): Promise<TokenPair> {
  const { db } = ctx;
  const email = input.email.trim().toLowerCase();
  const keys = [accountKey(input.tenant, email), ...(input.ip ? [ipKey(input.ip)] : [])];
  try {
    await assertNotLocked(db, keys);
  } catch (error) {
    await db.transaction((tx) =>
      enqueueEvent(
        tx,
        "identity.login.failed",
        { email, ip: input.ip, reason: "locked" },
        { tenant: input.tenant },
      ),
    );
    throw error;
  }
  const user = await findUser(db, input.tenant, email);
  if (!user?.password_hash || user.status !== "active") {
    await spendPasswordCheck(input.password);
    return refuseLogin(ctx, input, email);
  }
  const { ok, rehash } = await checkPassword(input.password, user.password_hash, ctx.passwordVerifiers);
  if (!ok) return refuseLogin(ctx, input, email);
  if (rehash) {
    const newHash = await hashPassword(input.password);
    await withTenant(db, user.tenant_id, (tx) =>
      tx.update(usersTable).set({ password_hash: newHash }).where(eq(usersTable.id, user.id)),
    );
  }
  // Not in withTenant: that drops to fig_tenant, which may touch only users and the outbox.
  const { refreshToken } = await db.transaction(async (tx) => {
    const started = await startSession(ctx, tx, user);
    await enqueueEvent(
      tx,
      "identity.login.succeeded",
      { userId: user.id, email, sessionId: started.sessionId, ip: input.ip },
      { tenant: user.tenant_id },
    );
    return started;
  });
  await clearFailures(db, accountKey(input.tenant, email));
  return pairFor(ctx, user, refreshToken);
}

type Presented =
  | { kind: "rotated"; tenant: string; userId: string; sessionId: string; refreshToken: string }
  | { kind: "refused"; detail: string };

async function revokeSession(
  tx: Database,
  session: { id: string; tenant_id: string; user_id: string },
  reason: "logout" | "reuse" | "disabled",
) {
  const revoked = await tx
    .update(sessionsTable)
    .set({ revoked_at: new Date(), revoked_reason: reason })
    .where(and(eq(sessionsTable.id, session.id), isNull(sessionsTable.revoked_at)))
    .returning({ id: sessionsTable.id });
  if (revoked.length === 0) return;
  await enqueueEvent(
    tx,
    "identity.session.revoked",
    { sessionId: session.id, userId: session.user_id, reason },
    { tenant: session.tenant_id },
  );
}

/**
 * A refresh token → a new access token and the next refresh token (this one is used up). A used token
 * presented again revokes its whole session; the revocation commits even though the answer is 401.
 */
export async function refresh(ctx: IdentityContext, refreshToken: string): Promise<TokenPair> {
  const presented: Presented = await ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .select({ token: refreshTokensTable, session: sessionsTable })
      .from(refreshTokensTable)
      .innerJoin(sessionsTable, eq(sessionsTable.id, refreshTokensTable.session_id))
      .where(eq(refreshTokensTable.token_hash, sha256(refreshToken)))
      .for("update");
    if (!row) return { kind: "refused", detail: "Refresh token is not valid" };
    const { token, session } = row;
    if (session.revoked_at) return { kind: "refused", detail: "The session was revoked; log in again" };
    if (token.used_at) {
      await revokeSession(tx, session, "reuse");
      return { kind: "refused", detail: "Refresh token was already used; the session is revoked" };
    }
    if (token.expires_at.getTime() <= Date.now()) return { kind: "refused", detail: "Refresh token expired" };
    await tx
      .update(refreshTokensTable)
      .set({ used_at: new Date() })
      .where(eq(refreshTokensTable.token_hash, token.token_hash));
    const next = await addRefreshToken(ctx, tx, session.id);
    return {
      kind: "rotated",
      tenant: session.tenant_id,
      userId: session.user_id,
      sessionId: session.id,
      refreshToken: next,
    };
  });
  if (presented.kind === "refused") throw badRefresh(presented.detail);
  const [user] = await withTenant(ctx.db, presented.tenant, (tx) =>
    tx.select().from(usersTable).where(eq(usersTable.id, presented.userId)),
  );
  if (user?.status !== "active") throw badRefresh("The account is not active");
  return pairFor(ctx, user, presented.refreshToken);
}

/** Revokes the session a refresh token belongs to (used or not); an unknown token changes nothing. */
export async function logout(ctx: IdentityContext, refreshToken: string): Promise<void> {
  await ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .select({ session: sessionsTable })
      .from(refreshTokensTable)
      .innerJoin(sessionsTable, eq(sessionsTable.id, refreshTokensTable.session_id))
      .where(eq(refreshTokensTable.token_hash, sha256(refreshToken)));
    if (row) await revokeSession(tx, row.session, "logout");
  });
}

/** Revokes every live session of a user (when an admin disables it), in the caller's transaction. */
export async function revokeUserSessions(tx: Database, tenant: string, userId: string): Promise<void> {
  const live = await tx
    .select()
    .from(sessionsTable)
    .where(and(eq(sessionsTable.user_id, userId), isNull(sessionsTable.revoked_at)));
  for (const session of live) await revokeSession(tx, { ...session, tenant_id: tenant }, "disabled");
}
