import { uploadFile } from "@dash/billing-validation";
import { requireAuth, requireRole } from "@fig/auth";
import { AppError, createRouter, traceparentOf } from "@fig/service";
import {
  getMultipartBoundary,
  MaxFileSizeExceededError,
  parseMultipartRequest,
} from "@remix-run/multipart-parser";
import type { ServiceDeps } from "../../deps.ts";
import { storeUpload } from "../../domain/files.ts";

const CSV_TYPES = /^(text\/csv|application\/csv|text\/plain|application\/vnd\.ms-excel)\b/i;

function assertCsv(name: string, type: string | undefined) {
  if (name.includes("\u0000") || name.length > 255) {
    throw new AppError("validation", "The file name is not acceptable", {
      errors: [{ location: "body.file", message: "file name must be 1–255 characters without NUL" }],
    });
  }
  if (!/\.csv$/i.test(name) && !CSV_TYPES.test(type ?? "")) {
    throw new AppError(
      "unsupported_media_type",
      `Only CSV files are accepted (got ${name}, ${type || "no type"})`,
    );
  }
}

export function filesRouter({ db, store, verifier, config }: ServiceDeps) {
  const router = createRouter();
  router.use("*", requireAuth(verifier), requireRole("editor"));

  router.openapi(uploadFile, async (c) => {
    const maxBytes = config.MAX_UPLOAD_BYTES;
    const declared = Number(c.req.header("content-length") ?? Number.NaN);
    if (declared > maxBytes + 64 * 1024) {
      throw new AppError(
        "payload_too_large",
        `The upload is larger than the ${maxBytes}-byte limit; nothing was stored`,
      );
    }
    const auth = c.get("auth");
    const caller = { tenant: auth.tenant, sub: auth.sub, traceparent: traceparentOf(c.get("span")) };
    const type = c.req.header("content-type") ?? "";
    let upload: { name: string; contentType: string; body: ReadableStream<Uint8Array> } | undefined;

    if (type.startsWith("multipart/form-data")) {
      if (!getMultipartBoundary(type))
        throw new AppError("validation", "multipart/form-data without a boundary");
      try {
        // The multipart parser available here (0.16) buffers each part; the raw text/csv form streams end to end.
        for await (const part of parseMultipartRequest(c.req.raw, { maxFileSize: maxBytes })) {
          if (part.name !== "file") continue;
          const name = part.filename ?? "upload.csv";
          assertCsv(name, part.mediaType);
          const chunks = part.content;
          upload = {
            name,
            contentType: part.mediaType ?? "text/csv",
            body: new ReadableStream({
              pull(controller) {
                const next = chunks.shift();
                if (next) controller.enqueue(next);
                else controller.close();
              },
            }),
          };
          break;
        }
      } catch (error) {
        if (error instanceof AppError) throw error;
        if (error instanceof MaxFileSizeExceededError) {
          throw new AppError(
            "payload_too_large",
            `The file is larger than the ${maxBytes}-byte limit; nothing was stored`,
          );
        }
        throw new AppError("validation", `Malformed multipart body: ${(error as Error).message}`);
      }
      if (!upload) {
        throw new AppError("validation", "No file in the form", {
          errors: [{ location: "body.file", message: "Required" }],
        });
      }
    } else if (CSV_TYPES.test(type)) {
      const name = c.req.valid("query").name ?? "upload.csv";
      assertCsv(name, type);
      if (!c.req.raw.body) throw new AppError("validation", "The body is empty");
      upload = { name, contentType: type.split(";")[0] ?? "text/csv", body: c.req.raw.body };
    } else {
      throw new AppError(
        "unsupported_media_type",
        `Send multipart/form-data (field \`file\`) or text/csv, not ${type || "no content type"}`,
      );
    }

    const file = await storeUpload({ db, store }, caller, { ...upload, maxBytes });
    c.header("location", `/api/files/${file.id}`);
    return c.json({ fileId: file.id, name: file.name, bytes: file.bytes, sha256: file.sha256 }, 201);
  });
  return router;
}
