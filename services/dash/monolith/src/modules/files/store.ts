import { type Database, withTenant } from "@fig/db";
import { DomainError } from "@fig/service";
import { eq } from "drizzle-orm";
import { files } from "../../db/schema.ts";

export type Caller = { tenant: string; sub: string };
export type FileRow = typeof files.$inferSelect;

/** Keeps an upload in the database, bytes and all: the legacy way (no object store). */
export async function saveFile(
  db: Database,
  caller: Caller,
  upload: { name: string; contentType: string; content: Uint8Array },
): Promise<FileRow> {
  const sha256 = new Bun.CryptoHasher("sha256").update(upload.content).digest("hex");
  const [row] = await withTenant(db, caller.tenant, (tx) =>
    tx
      .insert(files)
      .values({
        id: crypto.randomUUID(),
        tenant_id: caller.tenant,
        name: upload.name,
        bytes: upload.content.byteLength,
        sha256,
        content_type: upload.contentType,
        content: upload.content,
        uploaded_by: caller.sub,
      })
      .returning(),
  );
  return row as FileRow;
}

/** A file of the caller's tenant, content included; another tenant's is not found. */
export async function loadFile(db: Database, tenant: string, id: string, location: string): Promise<FileRow> {
  const [row] = await withTenant(db, tenant, (tx) => tx.select().from(files).where(eq(files.id, id)));
  if (!row)
    throw new DomainError("not_found", `File ${id} does not exist`, {
      errors: [{ location, message: "No such file for your tenant" }],
    });
  return row;
}
