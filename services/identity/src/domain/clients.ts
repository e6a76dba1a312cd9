import type { Database } from "@fig/db";
import { AppError } from "@fig/service";
import { eq } from "drizzle-orm";
import { clientsTable } from "../db/schema.ts";
import type { IdentityContext } from "./context.ts";
import { sameDigest, sha256 } from "./secrets.ts";
import { issueAccessToken } from "./tokens.ts";

// The client-credentials grant (RFC 6749 §4.4): a service trades its id and secret for a short-lived token
// carrying the scopes it asked for, among those it was granted.

export type ClientTokenRequest = { clientId: string; clientSecret: string; scope?: string | undefined };

/** RFC 6749 §5.2 error codes, carried as the problem's `error` extension so OAuth clients can read them. */
const oauthError = (type: "unauthorized" | "validation", error: string, detail: string) =>
  new AppError(type, detail, {
    extensions: { error },
    ...(type === "unauthorized" ? { headers: { "www-authenticate": 'Basic realm="fig"' } } : {}),
  });

export async function issueClientToken(ctx: IdentityContext, request: ClientTokenRequest) {
  const [client] = await ctx.db.select().from(clientsTable).where(eq(clientsTable.id, request.clientId));
  // Hash either way, so an unknown client id costs what a wrong secret does.
  const presented = sha256(request.clientSecret);
  if (!client || !sameDigest(presented, client.secret_hash))
    throw oauthError("unauthorized", "invalid_client", "Client authentication failed");
  const asked = (request.scope ?? "").split(" ").filter(Boolean);
  const refused = asked.filter((scope) => !client.scopes.includes(scope));
  if (refused.length > 0)
    throw oauthError("validation", "invalid_scope", `Scope not granted to this client: ${refused.join(" ")}`);
  const scope = (asked.length > 0 ? asked : client.scopes).join(" ");
  const { token, expiresIn } = await issueAccessToken(ctx.signer, ctx.tokens, {
    sub: client.id,
    tenant: client.tenant_id,
    roles: client.roles,
    scope,
  });
  return { access_token: token, token_type: "Bearer" as const, expires_in: expiresIn, scope };
}

/** Registers a client or replaces its secret and grants (seeds, tests). */
export async function upsertClient(
  db: Database,
  client: { id: string; secret: string; tenant: string; roles: string[]; scopes: string[] },
): Promise<void> {
  const row = {
    secret_hash: sha256(client.secret),
    tenant_id: client.tenant,
    roles: client.roles,
    scopes: client.scopes,
  };
  await db
    .insert(clientsTable)
    .values({ id: client.id, ...row })
    .onConflictDoUpdate({ target: clientsTable.id, set: row });
}
