import { timingSafeEqual } from "node:crypto";

/** 32 random bytes, base64url, behind a prefix that says what the secret is (`rt_`, `inv_`, ...). */
export function randomSecret(prefix: string): string {
  return `${prefix}${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url")}`;
}

/** SHA-256 hex: how high-entropy secrets (refresh, invite, client) are stored; a slow hash adds nothing. */
export function sha256(value: string): string {
  return new Bun.CryptoHasher("sha256").update(value).digest("hex");
}

/** Constant-time comparison of two hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const left = Buffer.from(a, "hex");
  const right = Buffer.from(b, "hex");
  return left.length === right.length && timingSafeEqual(left, right);
}
