import { z } from "zod";
import { defineRule, dollars } from "./define.ts";

export const amountNotPositive = defineRule({
  id: "amount-not-positive",
  category: "amount",
  severity: "error",
  scope: "row",
  params: z.object({}),
  check: ({ amount_cents }) =>
    amount_cents > 0
      ? null
      : { column: "amount_cents", message: `Amount claimed ${dollars(amount_cents)} is not positive.` },
});

export const amountAboveTariff = defineRule({
  id: "amount-above-tariff",
  category: "amount",
  severity: "warning",
  scope: "row",
  params: z.object({}),
  check: ({ billing_code, units, amount_cents }, { reference }) => {
    const code = reference.codes.get(billing_code);
    if (!code) return null; // unknown-code says so
    const allowed = code.tariff_cents * units;
    if (amount_cents <= allowed) return null;
    const message = `Amount claimed ${dollars(amount_cents)} is above the tariff of code ${billing_code}: ${units} × ${dollars(code.tariff_cents)} = ${dollars(allowed)}.`;
    return { column: "amount_cents", message };
  },
});
