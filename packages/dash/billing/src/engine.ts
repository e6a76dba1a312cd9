import { localToday } from "./fields.ts";
import type { FileRuleState, RowRule, RuleContext, RuleDefinition, Violation } from "./rules/define.ts";
import { BUILTIN_RULES } from "./rules/index.ts";
import type { Finding, ParsedLine, ReferenceSnapshot, Severity } from "./types.ts";

export type RuleEngineOptions = {
  /** "YYYY-MM-DD" that service dates must not exceed; defaults to the local date. */
  today?: string;
  /** The registry to draw from; defaults to the built-in rules. */
  rules?: readonly RuleDefinition[];
  /**
   * Keys each file rule (duplicates, daily maximums) holds in memory before spilling to a temporary file;
   * bounds the engine's memory whatever the file's length. Defaults to 196,608 keys (3 MiB) a rule.
   */
  maxKeysInMemory?: number;
};

export type RuleEngine = {
  /** The rule findings for one parsed line (the parser's own `line.findings` are not repeated). */
  check(line: ParsedLine): Finding[];
  /** Findings only known at the end of the file; call once, after the last line. Also does `close()`. */
  finish(): Finding[];
  /** Frees the file rules' spill files; idempotent. Call it when a file is abandoned before `finish()`. */
  close(): void;
  /** The rules that run, with the severity they report at. */
  readonly active: readonly { id: string; severity: Severity }[];
};

/** A rule's params in the reference snapshot do not fit its schema. */
export class RuleParamsError extends Error {
  override name = "RuleParamsError";
}

type ActiveRule = { id: string; severity: Severity } & (
  | { row: RowRule; context: RuleContext<unknown> }
  | { row?: undefined; state: FileRuleState }
);

/**
 * Builds the checks for one file. `reference.rules` is the switchboard: a registered rule runs only if its
 * id is there and enabled, with that row's severity and params; ids without a registered rule are ignored.
 *
 * @example
 * const engine = createRuleEngine(snapshot, { today: "2025-06-01" });
 * for await (const line of parseClaims(stream)) findings.push(...line.findings, ...engine.check(line));
 * findings.push(...engine.finish());
 * @throws {RuleParamsError} when an enabled rule's params are invalid.
 */
export function createRuleEngine(
  reference: ReferenceSnapshot,
  { today = localToday(), rules = BUILTIN_RULES, maxKeysInMemory }: RuleEngineOptions = {},
): RuleEngine {
  const active: ActiveRule[] = [];
  for (const rule of rules) {
    const config = reference.rules.get(rule.id);
    if (!config?.enabled) continue;
    const parsed = rule.params.safeParse(config.params ?? {});
    if (!parsed.success) {
      const issues = parsed.error.issues
        .map((i) => `${i.path.join(".") || "params"}: ${i.message}`)
        .join("; ");
      throw new RuleParamsError(
        `Rule ${rule.id} has invalid params ${JSON.stringify(config.params)}: ${issues}`,
      );
    }
    const context: RuleContext<unknown> = {
      reference,
      params: parsed.data,
      today,
      ...(maxKeysInMemory === undefined ? {} : { maxKeysInMemory }),
    };
    const { id } = rule;
    const { severity } = config;
    active.push(
      rule.scope === "row"
        ? { id, severity, row: rule, context }
        : { id, severity, state: rule.start(context) },
    );
  }

  const finding = (rule: ActiveRule, line: number, v: Violation): Finding => ({
    line,
    ruleId: rule.id,
    severity: rule.severity,
    column: v.column,
    message: v.message,
  });

  const close = () => {
    for (const rule of active) if (!rule.row) rule.state.close?.();
  };

  return {
    active: active.map(({ id, severity }) => ({ id, severity })),
    check({ line, record }) {
      if (!record) return [];
      const findings: Finding[] = [];
      for (let i = 0; i < active.length; i++) {
        const rule = active[i] as ActiveRule;
        const violation = rule.row ? rule.row.check(record, rule.context) : rule.state.check(line, record);
        if (violation) findings.push(finding(rule, line, violation));
      }
      return findings;
    },
    finish() {
      const findings = active.flatMap((rule) =>
        rule.row ? [] : (rule.state.finish?.() ?? []).map((v) => finding(rule, v.line, v)),
      );
      close();
      return findings;
    },
    close,
  };
}
