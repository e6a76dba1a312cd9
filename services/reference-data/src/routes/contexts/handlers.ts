import { type ReferenceDeps, referenceRouter } from "../reference-handlers.ts";
import { contextsRoutes } from "./routes.ts";
import { contextsSpec } from "./spec.ts";

export const contextsRouter = (deps: ReferenceDeps) => referenceRouter(contextsSpec, contextsRoutes, deps);
