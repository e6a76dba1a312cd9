import { createRouter } from "@fig/service";
import { issueClientToken } from "../../domain/clients.ts";
import type { IdentityContext } from "../../domain/context.ts";
import { tokenRoute } from "./routes.ts";

export function oauthRouter({ identity }: { identity: IdentityContext }) {
  const router = createRouter();
  router.openapi(tokenRoute, async (c) => {
    const form = c.req.valid("form");
    const token = await issueClientToken(identity, {
      clientId: form.client_id,
      clientSecret: form.client_secret,
      scope: form.scope,
    });
    // RFC 6749 §5.1: token responses are never cached.
    c.header("cache-control", "no-store");
    return c.json(token, 200);
  });
  return router;
}
