import type { TokenVerifier } from "@fig/auth";
import type { Database } from "@fig/db";
import type { FileStore } from "./domain/object-store.ts";

/** What the HTTP routes need; built in main.ts (or a test) and passed in. */
export type ServiceDeps = {
  db: Database;
  store: FileStore;
  verifier: TokenVerifier;
  config: { MAX_UPLOAD_BYTES: number };
};
