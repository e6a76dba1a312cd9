import type { Database } from "@fig/db";
import type { Signer } from "./keys.ts";
import type { PasswordVerifier } from "./passwords.ts";
import type { ThrottleSettings } from "./throttle.ts";
import type { TokenSettings } from "./tokens.ts";

/** What the identity verbs need: the database, the signer and the settings, resolved once in main.ts. */
export type IdentityContext = {
  db: Database;
  signer: Signer;
  tokens: TokenSettings;
  throttle: ThrottleSettings;
  refreshTtlSeconds: number;
  /** Hash formats logins accept (default: Bun's argon2 and bcrypt). */
  passwordVerifiers?: readonly PasswordVerifier[];
};
