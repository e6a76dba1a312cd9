import type { ResourceSpec } from "../resource.ts";
import { codesSpec } from "./codes.ts";
import { contextsSpec } from "./contexts.ts";
import { establishmentsSpec } from "./establishments.ts";
import { rulesSpec } from "./rules.ts";

/** The four reference tables, in the order they are mounted, seeded and documented. */
export const REFERENCE_SPECS: readonly ResourceSpec[] = [
  codesSpec,
  contextsSpec,
  establishmentsSpec,
  rulesSpec,
];
