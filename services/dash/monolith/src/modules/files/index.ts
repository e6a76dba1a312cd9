import { uploadFile } from "@dash/billing-validation";
import { requireAuth, requireRole } from "@fig/auth";
import { AppError, createRouter } from "@fig/service";
import type { ModuleDeps } from "../../deps.ts";
import { saveFile } from "./store.ts";

const CSV_TYPES = /^(text\/csv|application\/csv|text\/plain|application\/vnd\.ms-excel)\b/i;

/** The whole upload in memory, as the legacy app reads it: a form's `file` field or a raw text/csv body. */
async function readUpload(request: Request, queryName: string | undefined) {
  const type = request.headers.get("content-type") ?? "";
  if (type.startsWith("multipart/form-data")) {
    const form = await request.formData().catch((error: Error) => {
      throw new AppError("validation", `Malformed multipart body: ${error.message}`);
    });
    const file = form.get("file");
    if (!(file instanceof Blob))
      throw new AppError("validation", "No file in the form", {
        errors: [{ location: "body.file", message: "Required" }],
      });
    const name = (file as File).name || "upload.csv";
    return { name, contentType: file.type || "text/csv", content: new Uint8Array(await file.arrayBuffer()) };
  }
  if (CSV_TYPES.test(type)) {
    const content = new Uint8Array(await request.arrayBuffer());
    if (content.byteLength === 0) throw new AppError("validation", "The body is empty");
    return { name: queryName ?? "upload.csv", contentType: type.split(";")[0] ?? "text/csv", content };
  }
  throw new AppError(
    "unsupported_media_type",
    `Send multipart/form-data (field \`file\`) or text/csv, not ${type || "no content type"}`,
  );
}

/** POST /api/files: the same contract as the validation service's upload, kept in Postgres. */
export function filesModule({ db, verifier, config }: ModuleDeps) {
  const router = createRouter();
  router.use("*", requireAuth(verifier), requireRole("editor"));
  router.openapi(uploadFile, async (c) => {
    const limit = config.MAX_UPLOAD_BYTES;
    const tooLarge = () =>
      new AppError(
        "payload_too_large",
        `The upload is larger than the ${limit}-byte limit; nothing was stored`,
      );
    if (Number(c.req.header("content-length") ?? 0) > limit + 64 * 1024) throw tooLarge();
    const upload = await readUpload(c.req.raw, c.req.valid("query").name);
    if (upload.content.byteLength > limit) throw tooLarge();
    if (upload.name.includes("\u0000") || upload.name.length > 255)
      throw new AppError("validation", "The file name is not acceptable", {
        errors: [{ location: "body.file", message: "file name must be 1–255 characters without NUL" }],
      });
    if (!/\.csv$/i.test(upload.name) && !CSV_TYPES.test(upload.contentType))
      throw new AppError(
        "unsupported_media_type",
        `Only CSV files are accepted (got ${upload.name}, ${upload.contentType})`,
      );
    const auth = c.get("auth");
    const file = await saveFile(db, { tenant: auth.tenant, sub: auth.sub }, upload);
    c.header("location", `/api/files/${file.id}`);
    return c.json({ fileId: file.id, name: file.name, bytes: file.bytes, sha256: file.sha256 }, 201);
  });
  return router;
}
