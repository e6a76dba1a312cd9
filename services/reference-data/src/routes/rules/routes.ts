import { referenceRoutes } from "../reference-routes.ts";
import { rulesSpec } from "./spec.ts";

export const rulesRoutes = referenceRoutes(rulesSpec);
