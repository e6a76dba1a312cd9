import { z } from "zod";
import { defineRule } from "./define.ts";

const noParams = z.object({});

export const unknownCode = defineRule({
  id: "unknown-code",
  category: "code",
  severity: "error",
  scope: "row",
  params: noParams,
  check: ({ billing_code }, { reference }) =>
    reference.codes.has(billing_code)
      ? null
      : { column: "billing_code", message: `Billing code "${billing_code}" is not in the reference codes.` },
});

export const codeNotInEffect = defineRule({
  id: "code-not-in-effect",
  category: "code",
  severity: "error",
  scope: "row",
  params: noParams,
  check: ({ billing_code, service_date }, { reference }) => {
    const code = reference.codes.get(billing_code);
    if (!code) return null; // unknown-code says so
    const column = "billing_code";
    if (!code.active) return { column, message: `Billing code ${billing_code} is inactive.` };
    if (service_date < code.effective_from) {
      const message = `Billing code ${billing_code} takes effect on ${code.effective_from}, after the service date ${service_date}.`;
      return { column, message };
    }
    if (code.effective_to !== null && service_date > code.effective_to) {
      const message = `Billing code ${billing_code} ceased to be in effect on ${code.effective_to}, before the service date ${service_date}.`;
      return { column, message };
    }
    return null;
  },
});
