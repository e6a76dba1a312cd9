import type { Database } from "@fig/db";
import { enqueueEvent } from "@fig/events";
import { and, eq, gt, inArray, or, sql } from "drizzle-orm";
import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JWTVerifyGetKey,
} from "jose";
import { signingKeysTable } from "../db/schema.ts";

// The key set: one `current` key signs, one `next` key is already published so verifiers hold it before it
// signs anything, and `retired` keys stay published until every token they signed has expired.

export const SIGNING_ALG = "EdDSA";

type KeyRow = typeof signingKeysTable.$inferSelect;
export type KeyStatus = "current" | "next" | "retired";
export type SigningKey = { kid: string; key: CryptoKey };
/** A public key as the JWKS serves it. */
export type PublishedJwk = { kty: string; crv?: string; x?: string; kid: string; alg: string; use: string };

/** Encrypts private JWKs at rest with AES-256-GCM under a key from config. */
export type KeyCipher = { seal(plain: string): Promise<string>; open(sealed: string): Promise<string> };

/** @example const cipher = await createKeyCipher(config.IDENTITY_KEY_ENCRYPTION_KEY); // 32 bytes, base64 */
export async function createKeyCipher(base64Key: string): Promise<KeyCipher> {
  const raw = Buffer.from(base64Key, "base64");
  if (raw.length !== 32) throw new Error("the key encryption key must be 32 bytes (base64)");
  const key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
  return {
    async seal(plain) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const data = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new TextEncoder().encode(plain));
      return `v1.${Buffer.from(iv).toString("base64url")}.${Buffer.from(data).toString("base64url")}`;
    },
    async open(sealed) {
      const [version, iv, data] = sealed.split(".");
      if (version !== "v1" || !iv || !data) throw new Error("unreadable sealed key");
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: Buffer.from(iv, "base64url") },
        key,
        Buffer.from(data, "base64url"),
      );
      return new TextDecoder().decode(plain);
    },
  };
}

async function newKeyRow(cipher: KeyCipher, status: KeyStatus) {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { crv: "Ed25519", extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const privateJwk = await exportJWK(privateKey);
  return {
    kid,
    status,
    public_jwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: "sig" },
    private_jwk: await cipher.seal(JSON.stringify({ ...privateJwk, kid })),
    activated_at: status === "current" ? new Date() : null,
  };
}

// One writer of the key set at a time (several replicas starting, a rotation from the CLI).
const lockKeySet = (tx: Database) =>
  tx.execute(sql`select pg_advisory_xact_lock(hashtext('identity.signing_keys'))`);

/** Makes sure a current and a next key exist (first start); idempotent across replicas. */
export async function ensureSigningKeys(db: Database, cipher: KeyCipher): Promise<void> {
  await db.transaction(async (tx) => {
    await lockKeySet(tx);
    const live = await tx
      .select({ status: signingKeysTable.status })
      .from(signingKeysTable)
      .where(inArray(signingKeysTable.status, ["current", "next"]));
    for (const status of ["current", "next"] as const)
      if (!live.some((row) => row.status === status))
        await tx.insert(signingKeysTable).values(await newKeyRow(cipher, status));
  });
}

export type Rotation = { retired: string | null; current: string; next: string };

/**
 * Promotes next → current, retires the old current and makes a new next, in one transaction; records
 * `identity.key.rotated`. Verifiers already hold the new current key (it was published as next).
 */
export async function rotateSigningKeys(db: Database, cipher: KeyCipher): Promise<Rotation> {
  await ensureSigningKeys(db, cipher);
  return db.transaction(async (tx) => {
    await lockKeySet(tx);
    const now = new Date();
    const [old] = await tx
      .update(signingKeysTable)
      .set({ status: "retired", retired_at: now })
      .where(eq(signingKeysTable.status, "current"))
      .returning({ kid: signingKeysTable.kid });
    const [promoted] = await tx
      .update(signingKeysTable)
      .set({ status: "current", activated_at: now })
      .where(eq(signingKeysTable.status, "next"))
      .returning({ kid: signingKeysTable.kid });
    if (!promoted) throw new Error("no next key to promote");
    const fresh = await newKeyRow(cipher, "next");
    await tx.insert(signingKeysTable).values(fresh);
    const rotation = { retired: old?.kid ?? null, current: promoted.kid, next: fresh.kid };
    await enqueueEvent(tx, "identity.key.rotated", rotation);
    return rotation;
  });
}

/** The public keys verifiers may meet: current, next, and retired ones younger than `retainMs`. */
export async function publishedKeys(db: Database, retainMs: number): Promise<{ keys: PublishedJwk[] }> {
  const rows = await db
    .select({ jwk: signingKeysTable.public_jwk, status: signingKeysTable.status })
    .from(signingKeysTable)
    .where(
      or(
        inArray(signingKeysTable.status, ["current", "next"]),
        and(
          eq(signingKeysTable.status, "retired"),
          gt(signingKeysTable.retired_at, new Date(Date.now() - retainMs)),
        ),
      ),
    );
  // Current first: some clients try keys in order.
  const rank = { current: 0, next: 1, retired: 2 } as Record<string, number>;
  rows.sort((a, b) => (rank[a.status] ?? 3) - (rank[b.status] ?? 3));
  return { keys: rows.map((row) => row.jwk as PublishedJwk) };
}

/** Reads the current signing key for every token it signs (a rotation from another process shows at once). */
export function createSigner(db: Database, cipher: KeyCipher) {
  const opened = new Map<string, Promise<CryptoKey>>();
  const open = (row: Pick<KeyRow, "kid" | "private_jwk">) => {
    let key = opened.get(row.kid);
    if (!key) {
      key = cipher
        .open(row.private_jwk)
        .then(async (json) => (await importJWK(JSON.parse(json), SIGNING_ALG)) as CryptoKey);
      opened.set(row.kid, key);
    }
    return key;
  };
  return {
    async currentKey(): Promise<SigningKey> {
      const [row] = await db
        .select({ kid: signingKeysTable.kid, private_jwk: signingKeysTable.private_jwk })
        .from(signingKeysTable)
        .where(eq(signingKeysTable.status, "current"));
      if (!row) throw new Error("no current signing key: the service has not started its key set");
      return { kid: row.kid, key: await open(row) };
    },
  };
}
export type Signer = ReturnType<typeof createSigner>;

/**
 * Verifies this service's own tokens from its database, no HTTP: the published keys, read again when a
 * token names a kid they lack (at most once a second) and every minute.
 */
export function createOwnKeyResolver(db: Database, retainMs: number): JWTVerifyGetKey {
  let cached: { resolve: JWTVerifyGetKey; kids: Set<string>; at: number } | undefined;
  async function load() {
    const set = await publishedKeys(db, retainMs);
    cached = { resolve: createLocalJWKSet(set), kids: new Set(set.keys.map((k) => k.kid)), at: Date.now() };
    return cached;
  }
  return async function ownKeys(header, token) {
    const age = cached ? Date.now() - cached.at : Number.POSITIVE_INFINITY;
    const unknown = !cached || (header.kid !== undefined && !cached.kids.has(header.kid));
    const keys = age > 60_000 || (unknown && age > 1000) ? await load() : (cached ?? (await load()));
    return keys.resolve(header, token);
  };
}
