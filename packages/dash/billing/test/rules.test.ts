import { describe, expect, test } from "bun:test";
import { type ClaimRecord, createRuleEngine, type Finding, type ReferenceSnapshot } from "../src/index.ts";
import { fixtureReference, TODAY, validRecord } from "./helpers.ts";

/** Runs the whole engine over records (lines 2, 3, …) and returns every finding. */
function check(records: ClaimRecord[], reference: ReferenceSnapshot = fixtureReference()): Finding[] {
  const engine = createRuleEngine(reference, { today: TODAY });
  const findings = records.flatMap((record, i) => engine.check({ line: i + 2, record, findings: [] }));
  return [...findings, ...engine.finish()];
}

/** The only finding for one record must come from `ruleId`; returns it. */
function only(ruleId: string, overrides: Partial<ClaimRecord>): Finding {
  const findings = check([validRecord(overrides)]);
  expect(findings.map((f) => f.ruleId)).toEqual([ruleId]);
  return findings[0] as Finding;
}

test("a valid record raises no finding at all", () => {
  expect(check([validRecord()])).toEqual([]);
});

describe("unknown-code", () => {
  test("passes a code in the reference", () => {
    expect(check([validRecord({ billing_code: "00103" })])).toEqual([]);
  });
  test("flags a code not in the reference, and no code rule that needs it", () => {
    const f = only("unknown-code", { billing_code: "99999" });
    expect(f).toMatchObject({ line: 2, severity: "error", column: "billing_code" });
    expect(f.message).toContain('"99999"');
  });
});

describe("code-not-in-effect", () => {
  test("passes on the last day of a code's validity", () => {
    expect(
      check([
        validRecord({ billing_code: "01396", service_date: "2023-10-22", submission_date: "2023-10-23" }),
      ]),
    ).toEqual(
      // service-too-old does not apply (1 day); today is later, which is fine
      [],
    );
  });
  test("flags an inactive code", () => {
    expect(only("code-not-in-effect", { billing_code: "00975" }).message).toBe(
      "Billing code 00975 is inactive.",
    );
  });
  test("flags a service before the code takes effect", () => {
    expect(only("code-not-in-effect", { billing_code: "09000" }).message).toContain(
      "takes effect on 2030-01-01",
    );
  });
  test("flags a service after the code ceased", () => {
    const f = only("code-not-in-effect", { billing_code: "01396" });
    expect(f.message).toContain("ceased to be in effect on 2023-10-22, before the service date 2025-05-20");
    expect(f.column).toBe("billing_code");
  });
});

describe("unknown-establishment", () => {
  test("flags a number not in the reference", () => {
    const f = only("unknown-establishment", { establishment_number: "99999" });
    expect(f).toMatchObject({ column: "establishment_number", severity: "error" });
    expect(f.message).toContain('"99999"');
  });
});

describe("inactive-establishment", () => {
  test("passes an active establishment", () => {
    expect(check([validRecord({ establishment_number: "02566" })])).toEqual([]);
  });
  test("flags an inactive one", () => {
    expect(only("inactive-establishment", { establishment_number: "22784" }).message).toBe(
      "Establishment 22784 is inactive.",
    );
  });
});

describe("place-of-service-mismatch", () => {
  test("passes a cabinet code in a cabinet and an établissement code in a CH", () => {
    expect(
      check([validRecord({ billing_code: "00133", establishment_number: "01381", amount_cents: 10660 })]),
    ).toEqual([]);
    expect(
      check([validRecord({ billing_code: "06082", establishment_number: "00683", amount_cents: 100 })]),
    ).toEqual([]);
  });
  test("flags a cabinet-only code at a CH, and at a GMF (not a cabinet type)", () => {
    const f = only("place-of-service-mismatch", { billing_code: "00133", amount_cents: 100 });
    expect(f.message).toBe(
      "Billing code 00133 is for a cabinet only, but establishment 00683 is of type CH.",
    );
    only("place-of-service-mismatch", {
      billing_code: "00133",
      establishment_number: "02566",
      amount_cents: 100,
    });
  });
  test("flags an établissement-only code in a cabinet", () => {
    const f = only("place-of-service-mismatch", { billing_code: "06082", establishment_number: "01381" });
    expect(f.message).toContain("for an établissement only, but establishment 01381 is of type cabinet");
  });
  test("params.cabinetTypes widens what counts as a cabinet", () => {
    const reference = fixtureReference();
    const rule = reference.rules.get("place-of-service-mismatch");
    if (rule) rule.params = { cabinetTypes: ["cabinet", "GMF"] };
    expect(
      check(
        [validRecord({ billing_code: "00133", establishment_number: "02566", amount_cents: 100 })],
        reference,
      ),
    ).toEqual([]);
  });
});

describe("context-required", () => {
  test("passes when a context is given", () => {
    expect(
      check([validRecord({ billing_code: "00570", context_codes: ["AM"], amount_cents: 6535 })]),
    ).toEqual([]);
  });
  test("flags a code that requires context without any", () => {
    const f = only("context-required", { billing_code: "00570" });
    expect(f).toMatchObject({ column: "context_codes", severity: "error" });
    expect(f.message).toContain("00570 requires at least one context code");
  });
});

describe("unknown-context", () => {
  test("passes known active contexts", () => {
    expect(check([validRecord({ context_codes: ["AM", "URG"] })])).toEqual([]);
  });
  test("flags unknown and inactive contexts in one finding", () => {
    const f = only("unknown-context", { context_codes: ["AM", "XYZ", "1981"] });
    expect(f.message).toBe('Context code "XYZ" is not in the reference contexts; "1981" is inactive.');
    expect(f.column).toBe("context_codes");
  });
});

describe("service-date-in-future", () => {
  test("passes a service today, submitted today", () => {
    expect(check([validRecord({ service_date: TODAY, submission_date: TODAY })])).toEqual([]);
  });
  test("flags a service after today", () => {
    const f = only("service-date-in-future", { service_date: "2025-06-02", submission_date: TODAY });
    expect(f.message).toBe("Service date 2025-06-02 is in the future (today is 2025-06-01).");
  });
  test("flags a service after its submission", () => {
    const f = only("service-date-in-future", { service_date: "2025-05-26" });
    expect(f.message).toBe("Service date 2025-05-26 is after the submission date 2025-05-25.");
  });
});

describe("service-too-old", () => {
  test("passes exactly maxDays (90) before submission", () => {
    expect(check([validRecord({ service_date: "2025-02-24" })])).toEqual([]);
  });
  test("flags 91 days before submission", () => {
    const f = only("service-too-old", { service_date: "2025-02-23" });
    expect(f.message).toBe(
      "Service date 2025-02-23 is 91 days before the submission date 2025-05-25 (at most 90 allowed).",
    );
  });
  test("reads maxDays from the snapshot", () => {
    const reference = fixtureReference();
    const rule = reference.rules.get("service-too-old");
    if (rule) rule.params = { maxDays: 30 };
    expect(check([validRecord({ service_date: "2025-04-24" })], reference).map((f) => f.message)).toEqual([
      "Service date 2025-04-24 is 31 days before the submission date 2025-05-25 (at most 30 allowed).",
    ]);
  });
});

describe("amount-not-positive", () => {
  test("passes one cent", () => {
    expect(check([validRecord({ amount_cents: 1 })])).toEqual([]);
  });
  test("flags zero and negative amounts", () => {
    expect(only("amount-not-positive", { amount_cents: 0 }).message).toBe(
      "Amount claimed $0.00 is not positive.",
    );
    expect(only("amount-not-positive", { amount_cents: -8650 }).message).toBe(
      "Amount claimed -$86.50 is not positive.",
    );
  });
});

describe("amount-above-tariff", () => {
  test("passes tariff × units exactly", () => {
    expect(check([validRecord({ units: 3, amount_cents: 3 * 6290 })])).toEqual([]);
  });
  test("flags one cent more, as a warning", () => {
    const f = only("amount-above-tariff", { units: 2, amount_cents: 2 * 6290 + 1 });
    expect(f).toMatchObject({ severity: "warning", column: "amount_cents" });
    expect(f.message).toBe("Amount claimed $125.81 is above the tariff of code 00103: 2 × $62.90 = $125.80.");
  });
});

describe("nam-invalid", () => {
  test("passes a woman's NAM (month + 50)", () => {
    expect(check([validRecord({ patient_nam: "TREM85562512" })])).toEqual([]);
  });
  test("flags a NAM that is not 4 letters + 8 digits", () => {
    expect(only("nam-invalid", { patient_nam: "TRE185062512" }).message).toContain(
      "not 4 letters followed by 8 digits",
    );
    only("nam-invalid", { patient_nam: "TREM8506251" });
  });
  test("flags a NAM whose birth date differs", () => {
    const f = only("nam-invalid", { patient_nam: "TREM85062612" });
    expect(f).toMatchObject({ column: "patient_nam", severity: "error" });
    expect(f.message).toContain(
      "encodes birth date 85-06-26 (YY-MM-DD), which does not match birth date 1985-06-25",
    );
  });
  test("flags an impossible month", () => {
    expect(only("nam-invalid", { patient_nam: "TREM85132512" }).message).toContain("encodes month 13");
  });
});

describe("duplicate-line", () => {
  test("passes the same patient and day with another code or physician", () => {
    const records = [
      validRecord(),
      validRecord({ line_number: 2, billing_code: "00570", context_codes: ["AM"], amount_cents: 100 }),
      validRecord({ invoice_number: "1000002", physician_number: "1765432" }),
    ];
    expect(check(records)).toEqual([]);
  });
  test("flags the second and third occurrence, citing the first line", () => {
    const findings = check([validRecord(), validRecord({ line_number: 2 }), validRecord({ line_number: 3 })]);
    expect(findings.map((f) => [f.ruleId, f.line, f.severity])).toEqual([
      ["duplicate-line", 3, "warning"],
      ["duplicate-line", 4, "warning"],
    ]);
    expect(findings[1]?.message).toBe(
      "Duplicate of line 2: same patient TREM85062512, code 00103, service date 2025-05-20 and physician 1234567.",
    );
  });
});

describe("max-per-day-exceeded", () => {
  const at = (physician: string, units: number, date = "2025-05-20"): ClaimRecord =>
    validRecord({
      billing_code: "00133",
      establishment_number: "01381",
      physician_number: physician,
      units,
      service_date: date,
      amount_cents: 100,
    });
  test("passes exactly the daily maximum (2), across physicians", () => {
    expect(check([at("1111111", 1), at("2222222", 1), at("3333333", 1, "2025-05-21")])).toEqual([]);
  });
  test("flags the line that goes over, and the ones after it", () => {
    const findings = check([at("1111111", 1), at("2222222", 2), at("3333333", 1)]);
    expect(findings.map((f) => [f.ruleId, f.line, f.column])).toEqual([
      ["max-per-day-exceeded", 3, "units"],
      ["max-per-day-exceeded", 4, "units"],
    ]);
    expect(findings[0]?.message).toBe(
      "Code 00133 is limited to 2 per day per patient; with this line patient TREM85062512 has 3 on 2025-05-20.",
    );
  });
  test("ignores codes without a daily maximum", () => {
    const many = [1, 2, 3].map((n) =>
      validRecord({ physician_number: `${n}${n}${n}${n}${n}${n}${n}`, units: 5, amount_cents: 100 }),
    );
    expect(check(many)).toEqual([]);
  });
});
