import { ROLES } from "@fig/auth";
import { errorResponses } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";

const security = [{ bearerAuth: [] }];
const tags = ["Users"];
const EXAMPLE_ID = "3f1e9a52-8c4d-4b7e-9a10-2d5c6b7e8f90";
const json = <S extends z.ZodType>(schema: S) => ({ "application/json": { schema } });
const ADMIN_ONLY =
  "Requires role admin; acts on the users of the token's tenant only (another tenant's id is a 404).";

const roles = z
  .array(z.enum(ROLES))
  .min(1)
  .max(ROLES.length)
  .refine((list) => new Set(list).size === list.length, "roles must not repeat")
  .openapi({ description: `Fig roles: ${ROLES.join(", ")}`, example: ["editor"] });

export const UserSchema = z
  .object({
    id: z.uuid().openapi({ example: EXAMPLE_ID }),
    email: z.string().openapi({ example: "ana@acme.test" }),
    roles: z.array(z.string()).openapi({ example: ["editor"] }),
    status: z
      .enum(["invited", "active", "disabled"])
      .openapi({ description: "invited: no password yet; disabled: cannot log in", example: "active" }),
    createdAt: z.iso.datetime().openapi({ example: "2026-12-07T10:00:00.000Z" }),
    updatedAt: z.iso.datetime().openapi({ example: "2026-12-07T10:05:00.000Z" }),
  })
  .openapi("User");

const IdParams = z.object({ id: z.uuid().openapi({ description: "The user's id", example: EXAMPLE_ID }) });

export const listUsersRoute = createRoute({
  method: "get",
  path: "/",
  operationId: "listUsers",
  tags,
  summary: "List your tenant's users, by email",
  description: ADMIN_ONLY,
  security,
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(200).default(100).openapi({ example: 100 }),
      cursor: z
        .string()
        .max(320)
        .optional()
        .openapi({ description: "`nextCursor` of the previous page", example: "ana@acme.test" }),
    }),
  },
  responses: {
    200: {
      description: "A page of users",
      content: json(
        z
          .object({
            items: z.array(UserSchema),
            nextCursor: z
              .string()
              .nullable()
              .openapi({ description: "null on the last page", example: null }),
          })
          .openapi("UserPage"),
      ),
    },
    ...errorResponses(400, 401, 403),
  },
});

export const inviteUserRoute = createRoute({
  method: "post",
  path: "/",
  operationId: "inviteUser",
  tags,
  summary: "Invite a user into your tenant",
  description: `${ADMIN_ONLY} The user is created without a password; the answer carries a one-time \`inviteToken\` (72 h) for POST /api/auth/set-password. Hand it to the user: it is shown once and stored only as a hash.`,
  security,
  request: {
    body: {
      required: true,
      content: json(
        z
          .object({ email: z.email().max(320).openapi({ example: "ana@acme.test" }), roles })
          .openapi("UserInvitation"),
      ),
    },
  },
  responses: {
    201: {
      description: "Invited",
      headers: z.object({ Location: z.string().openapi({ example: `/api/users/${EXAMPLE_ID}` }) }),
      content: json(
        z
          .object({
            user: UserSchema,
            inviteToken: z.string().openapi({ example: "inv_Xy3…" }),
            inviteExpiresAt: z.iso.datetime().openapi({ example: "2026-12-10T10:00:00.000Z" }),
          })
          .openapi("InvitedUser"),
      ),
    },
    ...errorResponses(400, 401, 403, 409),
  },
});

export const getUserRoute = createRoute({
  method: "get",
  path: "/{id}",
  operationId: "getUser",
  tags,
  summary: "Get one of your tenant's users",
  description: ADMIN_ONLY,
  security,
  request: { params: IdParams },
  responses: {
    200: { description: "The user", content: json(UserSchema) },
    ...errorResponses(400, 401, 403, 404),
  },
});

export const updateUserRoute = createRoute({
  method: "patch",
  path: "/{id}",
  operationId: "updateUser",
  tags,
  summary: "Change a user's roles, or disable / enable them",
  description: `${ADMIN_ONLY} Disabling revokes every session the user has; their access tokens live until they expire (at most 15 min).`,
  security,
  request: {
    params: IdParams,
    body: {
      required: true,
      content: json(
        z
          .object({
            roles: roles.optional(),
            disabled: z
              .boolean()
              .optional()
              .openapi({ description: "true disables, false enables", example: true }),
          })
          .openapi("UserChanges"),
      ),
    },
  },
  responses: {
    200: { description: "Updated", content: json(UserSchema) },
    ...errorResponses(400, 401, 403, 404, 422),
  },
});
