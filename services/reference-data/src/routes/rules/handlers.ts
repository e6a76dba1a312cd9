import { type ReferenceDeps, referenceRouter } from "../reference-handlers.ts";
import { rulesRoutes } from "./routes.ts";
import { rulesSpec } from "./spec.ts";

export const rulesRouter = (deps: ReferenceDeps) => referenceRouter(rulesSpec, rulesRoutes, deps);
