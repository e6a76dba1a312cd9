import { z } from "zod";
import { defineRule } from "./define.ts";

export const unknownEstablishment = defineRule({
  id: "unknown-establishment",
  category: "establishment",
  severity: "error",
  scope: "row",
  params: z.object({}),
  check: ({ establishment_number }, { reference }) =>
    reference.establishments.has(establishment_number)
      ? null
      : {
          column: "establishment_number",
          message: `Establishment "${establishment_number}" is not in the reference establishments.`,
        },
});

export const inactiveEstablishment = defineRule({
  id: "inactive-establishment",
  category: "establishment",
  severity: "error",
  scope: "row",
  params: z.object({}),
  check: ({ establishment_number }, { reference }) =>
    reference.establishments.get(establishment_number)?.active === false
      ? { column: "establishment_number", message: `Establishment ${establishment_number} is inactive.` }
      : null,
});

export const placeOfServiceMismatch = defineRule({
  id: "place-of-service-mismatch",
  category: "establishment",
  severity: "error",
  scope: "row",
  /** Establishment types that count as a cabinet (a private practice); every other type is an établissement. */
  params: z.object({ cabinetTypes: z.array(z.string()).default(["cabinet"]) }),
  check: ({ billing_code, establishment_number }, { reference, params }) => {
    const code = reference.codes.get(billing_code);
    const establishment = reference.establishments.get(establishment_number);
    if (!code || !establishment) return null; // unknown-code / unknown-establishment say so
    const inCabinet = params.cabinetTypes.includes(establishment.type);
    const at = `establishment ${establishment_number} is of type ${establishment.type}`;
    if (code.place_of_service === "cabinet" && !inCabinet) {
      return {
        column: "establishment_number",
        message: `Billing code ${billing_code} is for a cabinet only, but ${at}.`,
      };
    }
    if (code.place_of_service === "etablissement" && inCabinet) {
      return {
        column: "establishment_number",
        message: `Billing code ${billing_code} is for an établissement only, but ${at}.`,
      };
    }
    return null;
  },
});
