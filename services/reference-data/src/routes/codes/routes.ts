import { referenceRoutes } from "../reference-routes.ts";
import { codesSpec } from "./spec.ts";

export const codesRoutes = referenceRoutes(codesSpec);
