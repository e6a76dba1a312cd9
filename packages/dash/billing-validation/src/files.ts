import { errorResponses, pgText } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";

export const FileSchema = z
  .object({
    fileId: z.uuid().openapi({
      description: "Id to pass to POST /api/validations",
      example: "0b6f1c9e-3f7a-4a59-9d2e-5f1a2b3c4d5e",
    }),
    name: z.string().openapi({ description: "File name as uploaded", example: "facturation-2026-10.csv" }),
    bytes: z.number().int().openapi({ description: "Size in bytes", example: 1843200 }),
    sha256: z.string().openapi({
      description: "SHA-256 of the content, hex",
      example: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    }),
  })
  .openapi("File");

export const uploadFile = createRoute({
  method: "post",
  path: "/",
  operationId: "uploadFile",
  tags: ["Files"],
  summary: "Upload a billing CSV",
  description:
    "Streams the file into the object store, hashing it on the way. Send `multipart/form-data` with the file in field `file`, " +
    "or the raw CSV with `Content-Type: text/csv` (name it with `?name=`; this form is streamed end to end). " +
    'Text in UTF-8, Windows-1252 or UTF-16 with a byte order mark (Excel\'s "Unicode text" export), delimited by `,` `;` or tab. ' +
    "413 above the size limit (default 200 MB); 415 for anything but CSV, binary content included (a NUL byte in the first KiB " +
    "without a UTF-16 byte order mark); 422 when the first line has no delimiter. In every case nothing is kept. Requires role editor.",
  security: [{ bearerAuth: [] }],
  request: {
    query: z.object({
      name: pgText(1, 255)
        .optional()
        .openapi({ description: "File name for a raw text/csv upload", example: "facturation.csv" }),
    }),
    // Plain JSON Schemas (not zod) on purpose: a zod body schema makes the framework read and buffer the
    // whole body before the handler runs, and the upload must stream.
    body: {
      required: true,
      content: {
        "multipart/form-data": {
          schema: {
            type: "object",
            required: ["file"],
            properties: { file: { type: "string", format: "binary", description: "The CSV file" } },
          },
        },
        "text/csv": { schema: { type: "string", examples: ["No facture,No ligne,NAM,...\n"] } },
      },
    },
  },
  responses: {
    201: {
      description: "Stored",
      headers: z.object({
        Location: z.string().openapi({ example: "/api/files/0b6f1c9e-3f7a-4a59-9d2e-5f1a2b3c4d5e" }),
      }),
      content: { "application/json": { schema: FileSchema } },
    },
    ...errorResponses(400, 401, 403, 413, 415, 422),
  },
});
