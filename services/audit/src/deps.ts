import type { TokenVerifier } from "@fig/auth";
import type { Database } from "@fig/db";

/** What the HTTP routes need; built in main.ts (or a test) and passed in. */
export type ServiceDeps = {
  db: Database;
  verifier: TokenVerifier;
  /** The tenant whose `operator` tokens read the log (FIG_OPERATOR_TENANT). */
  operatorTenant: string;
};
