import { errorResponses } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";

const tags = ["Auth"];
const json = <S extends z.ZodType>(schema: S) => ({ "application/json": { schema } });

const tenant = z
  .string()
  .min(1)
  .max(100)
  .openapi({ description: "The tenant the account belongs to", example: "acme" });
const password = z.string().min(1).max(1024).openapi({ example: "fig-dev-password" });
const refreshToken = z
  .string()
  .min(1)
  .max(200)
  .openapi({ description: "The opaque refresh token a login or refresh returned", example: "rt_3q2-7wEh…" });

export const TokenPairSchema = z
  .object({
    accessToken: z.string().openapi({
      description: "EdDSA JWT: sub, tenant, roles, iss, aud, exp; kid in its header",
      example: "eyJhbGciOiJFZERTQSIsImtpZCI6Ii4uLiJ9…",
    }),
    tokenType: z.literal("Bearer"),
    expiresIn: z.number().int().openapi({ description: "Access token lifetime in seconds", example: 600 }),
    refreshToken: refreshToken.openapi({ description: "Use once with POST /api/auth/refresh" }),
    refreshExpiresIn: z
      .number()
      .int()
      .openapi({ description: "Refresh token lifetime in seconds", example: 2592000 }),
  })
  .openapi("TokenPair");

export const loginRoute = createRoute({
  method: "post",
  path: "/login",
  operationId: "login",
  security: [],
  tags,
  summary: "Log in with tenant, email and password",
  description:
    "Returns a short-lived access token and the first refresh token of a new session. A wrong email, password, or a disabled or not yet activated account are one answer (401). " +
    "Failed logins are counted per account and per client address: at the limit the key is locked and every login on it is answered 429 with Retry-After.",
  request: {
    body: {
      required: true,
      content: json(
        z
          .object({
            tenant,
            email: z.string().min(3).max(320).openapi({ example: "admin@acme.test" }),
            password,
          })
          .openapi("LoginInput"),
      ),
    },
  },
  responses: {
    200: { description: "Logged in", content: json(TokenPairSchema) },
    ...errorResponses(400, 401, 429),
  },
});

export const refreshRoute = createRoute({
  method: "post",
  path: "/refresh",
  operationId: "refreshSession",
  security: [],
  tags,
  summary: "Trade a refresh token for a new access token and the next refresh token",
  description:
    "Each refresh token works once. Presenting one that was already used revokes its whole session (every token rotated from the same login): log in again.",
  request: { body: { required: true, content: json(z.object({ refreshToken }).openapi("RefreshInput")) } },
  responses: {
    200: { description: "Rotated", content: json(TokenPairSchema) },
    ...errorResponses(400, 401),
  },
});

export const logoutRoute = createRoute({
  method: "post",
  path: "/logout",
  operationId: "logout",
  security: [],
  tags,
  summary: "End the session a refresh token belongs to",
  description:
    "Revokes the session: none of its refresh tokens works again. An unknown token is answered 204 too.",
  request: { body: { required: true, content: json(z.object({ refreshToken }).openapi("LogoutInput")) } },
  responses: { 204: { description: "Logged out" }, ...errorResponses(400) },
});

export const setPasswordRoute = createRoute({
  method: "post",
  path: "/set-password",
  operationId: "acceptInvitation",
  security: [],
  tags,
  summary: "Set your password with an invitation's one-time token",
  description:
    "The invited account becomes active; the token stops working. Passwords are 12 to 1024 characters.",
  request: {
    body: {
      required: true,
      content: json(
        z
          .object({
            tenant,
            token: z.string().min(1).max(200).openapi({ example: "inv_Xy3…" }),
            password: z.string().min(12).max(1024).openapi({ example: "correct horse battery staple" }),
          })
          .openapi("SetPasswordInput"),
      ),
    },
  },
  responses: { 204: { description: "Password set; log in" }, ...errorResponses(400) },
});
