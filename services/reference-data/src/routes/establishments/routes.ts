import { referenceRoutes } from "../reference-routes.ts";
import { establishmentsSpec } from "./spec.ts";

export const establishmentsRoutes = referenceRoutes(establishmentsSpec);
