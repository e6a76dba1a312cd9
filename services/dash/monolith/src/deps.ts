import type { TokenVerifier } from "@fig/auth";
import type { Database } from "@fig/db";

/** What the modules need; built in main.ts (or a test) and passed in. */
export type ModuleDeps = {
  db: Database;
  verifier: TokenVerifier;
  config: { MAX_UPLOAD_BYTES: number };
};
