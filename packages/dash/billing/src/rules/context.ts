import { z } from "zod";
import { defineRule } from "./define.ts";

export const contextRequired = defineRule({
  id: "context-required",
  category: "context",
  severity: "error",
  scope: "row",
  params: z.object({}),
  check: ({ billing_code, context_codes }, { reference }) =>
    reference.codes.get(billing_code)?.requires_context && context_codes.length === 0
      ? {
          column: "context_codes",
          message: `Billing code ${billing_code} requires at least one context code; none given.`,
        }
      : null,
});

export const unknownContext = defineRule({
  id: "unknown-context",
  category: "context",
  severity: "error",
  scope: "row",
  params: z.object({}),
  check: ({ context_codes }, { reference }) => {
    if (context_codes.every((code) => reference.contexts.get(code)?.active)) return null;
    const unknown: string[] = [];
    const inactive: string[] = [];
    for (const code of context_codes) {
      const context = reference.contexts.get(code);
      if (!context) unknown.push(code);
      else if (!context.active) inactive.push(code);
    }
    const parts = [
      unknown.length > 0 && `${list(unknown)} not in the reference contexts`,
      inactive.length > 0 && `${list(inactive)} inactive`,
    ].filter(Boolean);
    return { column: "context_codes", message: `Context code ${parts.join("; ")}.` };
  },
});

const list = (codes: string[]) =>
  `${codes.map((c) => `"${c}"`).join(", ")} ${codes.length > 1 ? "are" : "is"}`;
