import { errorResponses } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";

export const tokenRoute = createRoute({
  method: "post",
  path: "/token",
  operationId: "issueClientToken",
  security: [],
  tags: ["OAuth"],
  summary: "Client-credentials grant: a service token",
  description:
    "RFC 6749 §4.4 with the client's id and secret in the form (client_secret_post). The token carries `scope` (the ones asked for, or every one the client holds) and the client's tenant and roles. " +
    "A wrong id or secret is 401 and an ungranted scope 400, as problem+json with the OAuth `error` code (`invalid_client`, `invalid_scope`) as an extension.",
  request: {
    body: {
      required: true,
      content: {
        "application/x-www-form-urlencoded": {
          schema: z
            .object({
              grant_type: z.literal("client_credentials").openapi({ example: "client_credentials" }),
              client_id: z.string().min(1).max(100).openapi({ example: "validation" }),
              client_secret: z.string().min(1).max(200).openapi({ example: "dev-secret-validation" }),
              scope: z
                .string()
                .max(1000)
                .optional()
                .openapi({ description: "Space-separated", example: "reference:export" }),
            })
            .openapi("ClientCredentials"),
        },
      },
    },
  },
  responses: {
    200: {
      description: "RFC 6749 §5.1 token response",
      content: {
        "application/json": {
          schema: z
            .object({
              access_token: z.string().openapi({ example: "eyJhbGciOiJFZERTQSJ9…" }),
              token_type: z.literal("Bearer"),
              expires_in: z.number().int().openapi({ example: 600 }),
              scope: z.string().openapi({ example: "reference:export" }),
            })
            .openapi("ClientToken"),
        },
      },
    },
    ...errorResponses(400, 401),
  },
});
