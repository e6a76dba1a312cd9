import { requireAuth, requireRole, type TokenVerifier } from "@fig/auth";
import type { Database } from "@fig/db";
import { createRouter } from "@fig/service";
import { getUser, inviteUser, listUsers, presentUser, updateUser } from "../../domain/users.ts";
import { getUserRoute, inviteUserRoute, listUsersRoute, updateUserRoute } from "./routes.ts";

/** A tenant's admins manage its users; the tenant is always the token's. */
export function usersRouter({ db, verifier }: { db: Database; verifier: TokenVerifier }) {
  const router = createRouter();
  router.use("*", requireAuth(verifier));
  router.use("*", requireRole("admin"));

  router.openapi(listUsersRoute, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    return c.json(await listUsers(db, c.get("auth").tenant, { limit, after: cursor }), 200);
  });

  router.openapi(inviteUserRoute, async (c) => {
    const { tenant, sub } = c.get("auth");
    const { user, inviteToken, inviteExpiresAt } = await inviteUser(db, { tenant, sub }, c.req.valid("json"));
    c.header("location", `/api/users/${user.id}`);
    c.header("cache-control", "no-store");
    return c.json(
      { user: presentUser(user), inviteToken, inviteExpiresAt: inviteExpiresAt.toISOString() },
      201,
    );
  });

  router.openapi(getUserRoute, async (c) => {
    return c.json(presentUser(await getUser(db, c.get("auth").tenant, c.req.valid("param").id)), 200);
  });

  router.openapi(updateUserRoute, async (c) => {
    const { tenant, sub } = c.get("auth");
    const row = await updateUser(db, { tenant, sub }, c.req.valid("param").id, c.req.valid("json"));
    return c.json(presentUser(row), 200);
  });

  return router;
}
