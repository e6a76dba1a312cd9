import { createRoute, z } from "@hono/zod-openapi";

const tags = ["Discovery"];

const JwkSchema = z
  .object({
    kty: z.string().openapi({ example: "OKP" }),
    crv: z.string().optional().openapi({ example: "Ed25519" }),
    x: z.string().optional().openapi({ example: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }),
    kid: z.string().openapi({ example: "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" }),
    alg: z.string().openapi({ example: "EdDSA" }),
    use: z.string().openapi({ example: "sig" }),
  })
  .openapi("Jwk");

export const jwksRoute = createRoute({
  method: "get",
  path: "/jwks.json",
  operationId: "getJwks",
  security: [],
  tags,
  summary: "The public signing keys (JWKS)",
  description:
    "The current key, the next one (published before it signs, so verifiers already hold it at a rotation) and retired keys until the tokens they signed have expired. Cacheable for 5 minutes; a verifier meeting an unknown `kid` refetches.",
  responses: {
    200: {
      description: "RFC 7517 key set",
      headers: z.object({ "Cache-Control": z.string().openapi({ example: "public, max-age=300" }) }),
      content: { "application/json": { schema: z.object({ keys: z.array(JwkSchema) }).openapi("Jwks") } },
    },
  },
});

export const openIdConfigurationRoute = createRoute({
  method: "get",
  path: "/openid-configuration",
  operationId: "getOpenIdConfiguration",
  security: [],
  tags,
  summary: "Minimal OpenID Provider metadata",
  description: "Where the key set and the token endpoint are, and what the tokens are signed with.",
  responses: {
    200: {
      description: "OpenID Connect Discovery 1.0 metadata (the fields this service implements)",
      content: {
        "application/json": {
          schema: z
            .object({
              issuer: z.string().openapi({ example: "fig-dev" }),
              jwks_uri: z.string().openapi({ example: "http://127.0.0.1:8080/.well-known/jwks.json" }),
              token_endpoint: z.string().openapi({ example: "http://127.0.0.1:8080/oauth/token" }),
              grant_types_supported: z.array(z.string()).openapi({ example: ["client_credentials"] }),
              token_endpoint_auth_methods_supported: z
                .array(z.string())
                .openapi({ example: ["client_secret_post"] }),
              id_token_signing_alg_values_supported: z.array(z.string()).openapi({ example: ["EdDSA"] }),
              response_types_supported: z.array(z.string()).openapi({ example: ["token"] }),
              subject_types_supported: z.array(z.string()).openapi({ example: ["public"] }),
              scopes_supported: z
                .array(z.string())
                .openapi({ example: ["reference:export", "reference:read"] }),
            })
            .openapi("OpenIdConfiguration"),
        },
      },
    },
  },
});
