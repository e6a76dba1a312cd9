import { referenceRoutes } from "../reference-routes.ts";
import { contextsSpec } from "./spec.ts";

export const contextsRoutes = referenceRoutes(contextsSpec);
