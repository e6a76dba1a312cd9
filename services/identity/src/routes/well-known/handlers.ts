import type { Database } from "@fig/db";
import { createRouter } from "@fig/service";
import { publishedKeys, SIGNING_ALG } from "../../domain/keys.ts";
import { jwksRoute, openIdConfigurationRoute } from "./routes.ts";

export type DiscoveryDeps = {
  db: Database;
  issuer: string;
  /** Where clients reach this service (through the gateway): the base of jwks_uri and token_endpoint. */
  publicUrl: string;
  /** How long a retired key stays published: the access token lifetime plus clock tolerance. */
  retainRetiredMs: number;
  scopes: string[];
};

export function wellKnownRouter({ db, issuer, publicUrl, retainRetiredMs, scopes }: DiscoveryDeps) {
  const router = createRouter();
  const base = publicUrl.replace(/\/$/, "");

  router.openapi(jwksRoute, async (c) => {
    c.header("cache-control", "public, max-age=300");
    return c.json(await publishedKeys(db, retainRetiredMs), 200);
  });

  router.openapi(openIdConfigurationRoute, (c) => {
    c.header("cache-control", "public, max-age=3600");
    return c.json(
      {
        issuer,
        jwks_uri: `${base}/.well-known/jwks.json`,
        token_endpoint: `${base}/oauth/token`,
        grant_types_supported: ["client_credentials"],
        token_endpoint_auth_methods_supported: ["client_secret_post"],
        id_token_signing_alg_values_supported: [SIGNING_ALG],
        response_types_supported: ["token"],
        subject_types_supported: ["public"],
        scopes_supported: scopes,
      },
      200,
    );
  });

  return router;
}
