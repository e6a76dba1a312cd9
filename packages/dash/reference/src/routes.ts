import { errorResponses } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";
import type { ResourceSpec } from "./resource.ts";

const security = [{ bearerAuth: [] }];
const ETagHeader = z
  .string()
  .openapi({ description: "Strong validator of this representation", example: '"3-lzx1k2f4"' });
const CacheControlHeader = z.string().openapi({ example: "private, no-cache" });

const ImportResultSchema = z
  .object({
    rows: z.number().int().openapi({ description: "Data rows read (header excluded)", example: 343 }),
    inserted: z.number().int().openapi({ description: "Rows whose key was new", example: 12 }),
    updated: z.number().int().openapi({ description: "Existing rows whose content changed", example: 3 }),
    unchanged: z.number().int().openapi({ description: "Existing rows identical to the file", example: 328 }),
  })
  .openapi("ImportResult");

/**
 * The createRoute definitions of one reference table: list, get, create, update, delete, import, export.
 * Operation ids read `listCodes`, `getCode`, `importCodes`, ….
 */
export function referenceRoutes(spec: ResourceSpec) {
  const tag = spec.plural;
  const keyParams = z.object({ [spec.key]: spec.keySchema });
  const Page = z
    .object({
      items: z.array(spec.record),
      nextCursor: z.string().nullable().openapi({
        description: "Pass as `cursor` for the next page; null on the last page",
        example: "eyJrIjoiMDAxMDMifQ",
      }),
    })
    .openapi(`${spec.singular}Page`);
  const ListQuery = z.object({
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(500)
      .default(50)
      .openapi({ description: "Page size (1–500)", example: 50 }),
    cursor: z
      .string()
      .max(512)
      .optional()
      .openapi({ description: "Opaque cursor from `nextCursor`", example: "eyJrIjoiMDAxMDMifQ" }),
    q: z.string().min(1).max(200).optional().openapi({
      description: "Case- and accent-insensitive search on the key and the description/name",
      example: "acces",
    }),
    ...spec.filters.shape,
  });
  const json = <S extends z.ZodType>(schema: S) => ({ "application/json": { schema } });
  const withValidators = z.object({ ETag: ETagHeader, "Cache-Control": CacheControlHeader });
  const csvExample = `${spec.columns.map((c) => c.name).join(",")}\n`;
  const csv = { "text/csv": { schema: { type: "string" as const, examples: [csvExample] } } };

  return {
    list: createRoute({
      method: "get",
      path: "/",
      operationId: `list${spec.plural}`,
      tags: [tag],
      summary: `List ${spec.resource}`,
      description: `Pages in key order. Requires role viewer. Supports \`If-None-Match\` (304).`,
      security,
      request: { query: ListQuery },
      responses: {
        200: { description: `A page of ${spec.resource}`, headers: withValidators, content: json(Page) },
        304: { description: "Not modified: your cached page is current" },
        ...errorResponses(400, 401, 403),
      },
    }),
    export: createRoute({
      method: "get",
      path: "/export",
      operationId: `export${spec.plural}`,
      tags: [tag],
      summary: `Export ${spec.resource} as CSV`,
      description: `Streams every row in key order, in exactly the format \`POST /import\` accepts: header \`${spec.columns.map((c) => c.name).join(",")}\`. Requires role viewer.`,
      security,
      responses: {
        200: { description: "CSV, UTF-8, header row first", content: csv },
        ...errorResponses(401, 403),
      },
    }),
    import: createRoute({
      method: "post",
      path: "/import",
      operationId: `import${spec.plural}`,
      tags: [tag],
      summary: `Import ${spec.resource} from CSV (all or nothing)`,
      description: `Upserts by \`${spec.key}\`. The body streams in; every row is validated like a POST body. If any line is bad the response is a 422 listing each bad line (\`line\`, \`column\`, \`message\`) and nothing is written. Requires role editor.`,
      security,
      request: {
        body: {
          required: true,
          content: csv,
        },
      },
      responses: {
        200: { description: "Imported", content: json(ImportResultSchema) },
        ...errorResponses(400, 401, 403, 415, 422),
      },
    }),
    get: createRoute({
      method: "get",
      path: `/{${spec.key}}`,
      operationId: `get${spec.singular}`,
      tags: [tag],
      summary: `Get one ${spec.singular.toLowerCase()}`,
      description:
        "Requires role viewer. Supports `If-None-Match` (304); the ETag is the `If-Match` value for PATCH.",
      security,
      request: { params: keyParams },
      responses: {
        200: {
          description: `The ${spec.singular.toLowerCase()}`,
          headers: withValidators,
          content: json(spec.record),
        },
        304: { description: "Not modified" },
        ...errorResponses(400, 401, 403, 404),
      },
    }),
    create: createRoute({
      method: "post",
      path: "/",
      operationId: `create${spec.singular}`,
      tags: [tag],
      summary: `Create a ${spec.singular.toLowerCase()}`,
      description: "Requires role editor. 409 when the key exists.",
      security,
      request: { body: { required: true, content: json(spec.create) } },
      responses: {
        201: {
          description: "Created",
          headers: z.object({
            Location: z.string().openapi({ example: `/api/${spec.resource}/00103` }),
            ETag: ETagHeader,
          }),
          content: json(spec.record),
        },
        ...errorResponses(400, 401, 403, 409),
      },
    }),
    update: createRoute({
      method: "patch",
      path: `/{${spec.key}}`,
      operationId: `update${spec.singular}`,
      tags: [tag],
      summary: `Update a ${spec.singular.toLowerCase()}`,
      description:
        "Requires role editor and `If-Match` with the ETag you read (428 without it, 412 when it is stale). Send only the fields to change; the key cannot change.",
      security,
      request: {
        params: keyParams,
        headers: z.object({
          "if-match": z
            .string()
            .optional()
            .openapi({ description: "ETag from GET; `*` to skip the check", example: '"3-lzx1k2f4"' }),
        }),
        body: { required: true, content: json(spec.patch) },
      },
      responses: {
        200: { description: "Updated", headers: z.object({ ETag: ETagHeader }), content: json(spec.record) },
        ...errorResponses(400, 401, 403, 404, 412, 428),
      },
    }),
    delete: createRoute({
      method: "delete",
      path: `/{${spec.key}}`,
      operationId: `delete${spec.singular}`,
      tags: [tag],
      summary: `Delete a ${spec.singular.toLowerCase()}`,
      description: "Requires role admin.",
      security,
      request: { params: keyParams },
      responses: { 204: { description: "Deleted" }, ...errorResponses(400, 401, 403, 404) },
    }),
  };
}

export type ReferenceRoutes = ReturnType<typeof referenceRoutes>;
