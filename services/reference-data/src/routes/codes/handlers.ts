import { type ReferenceDeps, referenceRouter } from "../reference-handlers.ts";
import { codesRoutes } from "./routes.ts";
import { codesSpec } from "./spec.ts";

export const codesRouter = (deps: ReferenceDeps) => referenceRouter(codesSpec, codesRoutes, deps);
