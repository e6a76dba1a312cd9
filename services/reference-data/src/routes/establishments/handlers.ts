import { type ReferenceDeps, referenceRouter } from "../reference-handlers.ts";
import { establishmentsRoutes } from "./routes.ts";
import { establishmentsSpec } from "./spec.ts";

export const establishmentsRouter = (deps: ReferenceDeps) =>
  referenceRouter(establishmentsSpec, establishmentsRoutes, deps);
