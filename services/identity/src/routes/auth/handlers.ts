import { createRouter } from "@fig/service";
import type { Context } from "hono";
import type { IdentityContext } from "../../domain/context.ts";
import { login, logout, refresh } from "../../domain/sessions.ts";
import { acceptInvite } from "../../domain/users.ts";
import { loginRoute, logoutRoute, refreshRoute, setPasswordRoute } from "./routes.ts";

export type AuthRouterDeps = { identity: IdentityContext; clientIp: (c: Context) => string | null };

/** Public routes: they take credentials in the body, never a bearer token. */
export function authRouter({ identity, clientIp }: AuthRouterDeps) {
  const router = createRouter();

  router.openapi(loginRoute, async (c) => {
    const pair = await login(identity, { ...c.req.valid("json"), ip: clientIp(c) });
    c.header("cache-control", "no-store");
    return c.json(pair, 200);
  });

  router.openapi(refreshRoute, async (c) => {
    const pair = await refresh(identity, c.req.valid("json").refreshToken);
    c.header("cache-control", "no-store");
    return c.json(pair, 200);
  });

  router.openapi(logoutRoute, async (c) => {
    await logout(identity, c.req.valid("json").refreshToken);
    return c.body(null, 204);
  });

  router.openapi(setPasswordRoute, async (c) => {
    await acceptInvite(identity.db, c.req.valid("json"));
    return c.body(null, 204);
  });

  return router;
}
