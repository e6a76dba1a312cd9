// Passwords are argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane). Hashes of other algorithms (bcrypt from
// a system whose users were imported, or argon2id at weaker settings) still verify, and `rehash` says to store a
// fresh argon2id hash at that login.

/** OWASP Password Storage Cheat Sheet: argon2id, m=19456 KiB, t=2, p=1. Bun's memoryCost is in KiB. */
export const ARGON2ID = { algorithm: "argon2id", memoryCost: 19_456, timeCost: 2 } as const;

const CURRENT_PREFIX = `$argon2id$v=19$m=${ARGON2ID.memoryCost},t=${ARGON2ID.timeCost},p=1$`;

/** A hash format this service can check: Bun's (argon2*, bcrypt) by default; an import may add its own. */
export type PasswordVerifier = {
  name: string;
  handles(hash: string): boolean;
  verify(password: string, hash: string): Promise<boolean>;
};

/** Bun.password.verify reads argon2id/argon2i/argon2d PHC strings and bcrypt ($2a$, $2b$, $2y$). */
export const bunPasswordVerifier: PasswordVerifier = {
  name: "bun",
  handles: (hash) => /^\$(argon2(id|i|d)|2[aby])\$/.test(hash),
  verify: (password, hash) => Bun.password.verify(password, hash),
};

export function hashPassword(password: string): Promise<string> {
  return Bun.password.hash(password, ARGON2ID);
}

/**
 * Checks a password against a stored hash of any algorithm a verifier handles. `rehash` is true when it
 * matched but the hash is not argon2id at today's parameters: the caller stores `hashPassword(password)`.
 *
 * @example
 * const { ok, rehash } = await checkPassword("s3cret", "$2b$10$…"); // { ok: true, rehash: true }
 */
export async function checkPassword(
  password: string,
  hash: string,
  verifiers: readonly PasswordVerifier[] = [bunPasswordVerifier],
): Promise<{ ok: boolean; rehash: boolean }> {
  const verifier = verifiers.find((v) => v.handles(hash));
  if (!verifier) return { ok: false, rehash: false };
  const ok = await verifier.verify(password, hash);
  return { ok, rehash: ok && !hash.startsWith(CURRENT_PREFIX) };
}

// Verified when the account does not exist, so an unknown email costs the same time as a wrong password.
let decoy: Promise<string> | undefined;
export async function spendPasswordCheck(password: string): Promise<void> {
  decoy ??= hashPassword("decoy-password-never-matches");
  await Bun.password.verify(password, await decoy);
}
