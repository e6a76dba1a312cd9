import type { z } from "@hono/zod-openapi";

/**
 * The `content` of a JSON body in a createRoute request or response.
 *
 * @example
 * responses: { 200: { description: "The code", content: jsonContent(CodeSchema) } }
 */
export const jsonContent = <S extends z.ZodType>(schema: S) => ({ "application/json": { schema } });

/**
 * The `security` of an operation that needs `Authorization: Bearer <JWT>`: the `bearerAuth` scheme createApp
 * registers. (Probes declare `security: []` instead.)
 *
 * @example
 * createRoute({ method: "get", path: "/codes", security: bearerSecurity, responses })
 */
export const bearerSecurity: { bearerAuth: string[] }[] = [{ bearerAuth: [] }];
