import { expect, test } from "bun:test";
import { z } from "zod";
import { createRuleEngine, defineRule, RuleParamsError } from "../src/index.ts";
import { defaultRules, fixtureReference, TODAY, validRecord } from "./helpers.ts";

const broken = validRecord({ billing_code: "99999", amount_cents: 0 }); // unknown-code + amount-not-positive

test("runs every rule the snapshot enables, with the snapshot's severity", () => {
  const rules = defaultRules().map((r) =>
    r.id === "unknown-code" ? { ...r, severity: "info" as const } : r,
  );
  const engine = createRuleEngine(fixtureReference(rules), { today: TODAY });
  expect(engine.active).toHaveLength(14);
  const findings = engine.check({ line: 2, record: broken, findings: [] });
  expect(findings.map((f) => [f.ruleId, f.severity])).toEqual([
    ["unknown-code", "info"],
    ["amount-not-positive", "error"],
  ]);
});

test("a disabled rule does not run, nor one the snapshot lacks; unknown ids are ignored", () => {
  const rules = defaultRules()
    .filter((r) => r.id !== "amount-not-positive")
    .map((r) => (r.id === "unknown-code" ? { ...r, enabled: false } : r));
  rules.push({ id: "no-such-rule", severity: "error", enabled: true, params: {} });
  const engine = createRuleEngine(fixtureReference(rules), { today: TODAY });
  expect(engine.active.map((r) => r.id)).not.toContain("unknown-code");
  expect(engine.active.map((r) => r.id)).not.toContain("no-such-rule");
  expect(engine.check({ line: 2, record: broken, findings: [] })).toEqual([]);
});

test("invalid params fail fast with the rule and the problem", () => {
  const rules = defaultRules().map((r) =>
    r.id === "service-too-old" ? { ...r, params: { maxDays: "ninety" } } : r,
  );
  expect(() => createRuleEngine(fixtureReference(rules), { today: TODAY })).toThrow(RuleParamsError);
  expect(() => createRuleEngine(fixtureReference(rules), { today: TODAY })).toThrow(
    /service-too-old.*maxDays/,
  );
});

test("missing params take the schema's defaults", () => {
  const rules = defaultRules().map((r) => (r.id === "service-too-old" ? { ...r, params: {} } : r));
  const engine = createRuleEngine(fixtureReference(rules), { today: TODAY });
  const old = validRecord({ service_date: "2025-02-23" }); // 91 days before submission
  expect(engine.check({ line: 2, record: old, findings: [] }).map((f) => f.ruleId)).toEqual([
    "service-too-old",
  ]);
});

test("a line without a record gets no rule findings (the parser's are not repeated)", () => {
  const engine = createRuleEngine(fixtureReference(), { today: TODAY });
  const parserFinding = {
    line: 2,
    ruleId: "malformed-line",
    severity: "error" as const,
    column: null,
    message: "Expected 16 fields",
  };
  expect(engine.check({ line: 2, record: null, findings: [parserFinding] })).toEqual([]);
  expect(engine.finish()).toEqual([]);
});

test("custom rules register with a zod params schema, and file rules report at finish", () => {
  const longInvoice = defineRule({
    id: "invoice-too-long",
    category: "invoice",
    severity: "warning",
    scope: "file",
    params: z.object({ maxLines: z.number().default(1) }),
    start: ({ params }) => {
      const lines: number[] = [];
      return {
        check: (line) => {
          lines.push(line);
          return null;
        },
        finish: () =>
          lines.length > params.maxLines
            ? [{ line: 0, column: null, message: `${lines.length} lines > ${params.maxLines}` }]
            : [],
      };
    },
  });
  const rules = [{ id: "invoice-too-long", severity: "warning" as const, enabled: true, params: {} }];
  const engine = createRuleEngine(fixtureReference(rules), { today: TODAY, rules: [longInvoice] });
  engine.check({ line: 2, record: validRecord(), findings: [] });
  engine.check({ line: 3, record: validRecord(), findings: [] });
  expect(engine.finish()).toEqual([
    { line: 0, ruleId: "invoice-too-long", severity: "warning", column: null, message: "2 lines > 1" },
  ]);
});
