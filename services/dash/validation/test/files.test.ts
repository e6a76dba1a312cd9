import { describe, expect, test } from "bun:test";
import { Objm } from "@nats-io/obj";
import { files, outbox } from "../src/db/schema.ts";
import { bucketName } from "../src/domain/object-store.ts";
import { useValidationApp } from "./helpers.ts";

const t = useValidationApp({ maxUploadBytes: 4096 });
const csv = "No facture,No ligne\n1,1\n";

/** Every live object in the test namespace's bucket, by name, as the object store lists them. */
async function storedObjects(): Promise<string[]> {
  const bucket = await new Objm(await t.nats.connection()).open(bucketName(t.namespace));
  return (await bucket.list())
    .filter((o) => !o.deleted)
    .map((o) => `${o.name} ${o.size}`)
    .sort();
}

async function sha256Hex(text: string) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("POST /api/files", () => {
  test("multipart upload → 201 with id, size and sha256; stored bytes read back; file.uploaded in the outbox", async () => {
    const res = await t.upload(csv, { name: "octobre.csv" });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body).toMatchObject({ name: "octobre.csv", bytes: csv.length, sha256: await sha256Hex(csv) });
    expect(res.headers.get("location")).toBe(`/api/files/${body.fileId}`);
    const stored = await t.store.get(`acme/${body.fileId}`);
    expect(await new Response(stored).text()).toBe(csv);
    const events = await t.tdb.db.select().from(outbox);
    expect(events.some((e) => e.type === "file.uploaded" && e.tenant === "acme")).toBe(true);
  });

  test("raw text/csv body is streamed in too", async () => {
    const res = await t.request("/api/files?name=raw.csv", {
      method: "POST",
      body: csv,
      headers: { "content-type": "text/csv" },
    });
    expect(res.status).toBe(201);
    expect((await res.json()).name).toBe("raw.csv");
  });

  test("415 for a non-CSV, 413 above the limit; nothing left behind", async () => {
    // At least one file is stored first, so the bucket exists and "nothing new" is a real comparison.
    expect((await t.upload(csv, { name: "before.csv" })).status).toBe(201);
    const rowsBefore = await t.tdb.db.select().from(files);
    const objectsBefore = await storedObjects();
    const outboxBefore = (await t.tdb.db.select().from(outbox)).length;
    expect(objectsBefore.length).toBeGreaterThan(0);

    const pdf = new FormData();
    pdf.append("file", new File(["%PDF-1.7"], "scan.pdf", { type: "application/pdf" }));
    const notCsv = await t.request("/api/files", { method: "POST", body: pdf });
    expect(notCsv.status).toBe(415);
    expect(notCsv.headers.get("content-type")).toBe("application/problem+json");
    // A CSV (header, then rows) that never ends: refused once past the limit, mid-stream.
    const encoder = new TextEncoder();
    let started = false;
    const big = await t.request("/api/files?name=big.csv", {
      method: "POST",
      body: new ReadableStream({
        pull(c) {
          if (!started) c.enqueue(encoder.encode("No facture,No ligne\n"));
          started = true;
          c.enqueue(encoder.encode("1,1\n".repeat(250)));
        },
      }),
      headers: { "content-type": "text/csv" },
    });
    expect(big.status).toBe(413);

    // No metadata row, no object in the store (not even a partial one), no event.
    expect(await t.tdb.db.select().from(files)).toEqual(rowsBefore);
    expect(await storedObjects()).toEqual(objectsBefore);
    expect((await t.tdb.db.select().from(outbox)).length).toBe(outboxBefore);
  });

  test("400 without a file field; 415 for another content type", async () => {
    const form = new FormData();
    form.append("other", "x");
    expect((await t.request("/api/files", { method: "POST", body: form })).status).toBe(400);
    expect(
      (
        await t.request("/api/files", {
          method: "POST",
          body: "{}",
          headers: { "content-type": "application/json" },
        })
      ).status,
    ).toBe(415);
  });

  test("security: no token 401, viewer 403", async () => {
    expect(
      (
        await t.request("/api/files", {
          method: "POST",
          body: csv,
          token: null,
          headers: { "content-type": "text/csv" },
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await t.request("/api/files", {
          method: "POST",
          body: csv,
          roles: ["viewer"],
          headers: { "content-type": "text/csv" },
        })
      ).status,
    ).toBe(403);
  });
});

describe("tenancy", () => {
  test("tenant B gets 404 for tenant A's file and never sees A's runs", async () => {
    const { fileId } = await (await t.upload(csv, { tenant: "tenant-a" })).json();
    const asB = await t.request("/api/validations", {
      method: "POST",
      tenant: "tenant-b",
      body: JSON.stringify({ fileId }),
      headers: { "content-type": "application/json" },
    });
    expect(asB.status).toBe(404);
    const asA = await t.request("/api/validations", {
      method: "POST",
      tenant: "tenant-a",
      body: JSON.stringify({ fileId }),
      headers: { "content-type": "application/json" },
    });
    expect(asA.status).toBe(202);
    const { validationId } = await asA.json();
    expect(asA.headers.get("location")).toBe(`/api/validations/${validationId}`);
    expect(
      (await t.request(`/api/validations/${validationId}`, { tenant: "tenant-b", roles: ["viewer"] })).status,
    ).toBe(404);
    expect(
      (await t.request(`/api/validations/${validationId}/results`, { tenant: "tenant-b", roles: ["viewer"] }))
        .status,
    ).toBe(404);
    const listB = await (
      await t.request("/api/validations", { tenant: "tenant-b", roles: ["viewer"] })
    ).json();
    expect(listB.items).toEqual([]);
    const listA = await (
      await t.request("/api/validations", { tenant: "tenant-a", roles: ["viewer"] })
    ).json();
    expect(listA.items.map((v: { validationId: string }) => v.validationId)).toEqual([validationId]);
  });
});
