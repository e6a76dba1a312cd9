import { sql } from "drizzle-orm";
import { index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from "drizzle-orm/pg-core";

// Users are tenant-owned and guarded by row-level security (drizzle/0001_tenant_rls.sql): every query on them
// runs in withTenant (@fig/db). The other tables are the service's own bookkeeping, reached by a secret's hash
// or a key id, never listed per tenant through the API.

const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date", precision: 3 });

export const usersTable = pgTable(
  "users",
  {
    id: uuid("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    /** Lower-cased: one account per address and tenant. */
    email: text("email").notNull(),
    /** A PHC string (argon2id today; another algorithm's hash is verified and replaced at the next login). */
    password_hash: text("password_hash"),
    roles: text("roles").array().notNull(),
    /** invited (no password yet) → active; disabled refuses logins and revokes sessions. */
    status: text("status").notNull(),
    /** SHA-256 of the one-time set-password token an invitation returns. */
    invite_token_hash: text("invite_token_hash"),
    invite_expires_at: at("invite_expires_at"),
    created_by: text("created_by").notNull(),
    created_at: at("created_at").notNull().defaultNow(),
    updated_at: at("updated_at").notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex("users_tenant_email_idx").on(t.tenant_id, t.email),
    uniqueIndex("users_invite_idx").on(t.invite_token_hash),
  ],
);

/** A login's session: the family every refresh token rotated from that login belongs to. */
export const sessionsTable = pgTable(
  "sessions",
  {
    id: uuid("id").primaryKey(),
    tenant_id: text("tenant_id").notNull(),
    user_id: uuid("user_id").notNull(),
    created_at: at("created_at").notNull().defaultNow(),
    revoked_at: at("revoked_at"),
    /** logout, reuse (a used refresh token came back), disabled (the user was disabled). */
    revoked_reason: text("revoked_reason"),
  },
  (t) => [index("sessions_user_idx").on(t.user_id)],
);

/** Refresh tokens are opaque and stored only as their SHA-256; each is used once. */
export const refreshTokensTable = pgTable(
  "refresh_tokens",
  {
    token_hash: text("token_hash").primaryKey(),
    session_id: uuid("session_id")
      .notNull()
      .references(() => sessionsTable.id, { onDelete: "cascade" }),
    expires_at: at("expires_at").notNull(),
    used_at: at("used_at"),
    created_at: at("created_at").notNull().defaultNow(),
  },
  (t) => [index("refresh_tokens_session_idx").on(t.session_id)],
);

/** Failed logins per key (`account:<tenant>:<email>` or `ip:<address>`) in the current window. */
export const loginThrottleTable = pgTable("login_throttle", {
  key: text("key").primaryKey(),
  failures: integer("failures").notNull(),
  window_started_at: at("window_started_at").notNull(),
  locked_until: at("locked_until"),
});

/** Ed25519 signing keys: one current, one next (already published), retired ones until their tokens expire. */
export const signingKeysTable = pgTable(
  "signing_keys",
  {
    kid: text("kid").primaryKey(),
    status: text("status").notNull(),
    public_jwk: jsonb("public_jwk").notNull(),
    /** The private JWK, AES-256-GCM encrypted with IDENTITY_KEY_ENCRYPTION_KEY (`v1.<iv>.<ciphertext>`). */
    private_jwk: text("private_jwk").notNull(),
    created_at: at("created_at").notNull().defaultNow(),
    activated_at: at("activated_at"),
    retired_at: at("retired_at"),
  },
  (t) => [
    uniqueIndex("signing_keys_one_current_idx").on(t.status).where(sql`status = 'current'`),
    uniqueIndex("signing_keys_one_next_idx").on(t.status).where(sql`status = 'next'`),
  ],
);

/** Services that get tokens by the client-credentials grant. */
export const clientsTable = pgTable("clients", {
  id: text("id").primaryKey(),
  /** SHA-256 of the secret: secrets are 32 random bytes, so a slow hash adds nothing. */
  secret_hash: text("secret_hash").notNull(),
  /** The tenant and roles its tokens carry (services read as `fig-system` viewers). */
  tenant_id: text("tenant_id").notNull(),
  roles: text("roles").array().notNull(),
  /** The scopes it may ask for. */
  scopes: text("scopes").array().notNull(),
  created_at: at("created_at").notNull().defaultNow(),
});

// Events leave through the transactional outbox (packages/events): drizzle-kit creates its table from here.
export { outbox } from "@fig/events";
