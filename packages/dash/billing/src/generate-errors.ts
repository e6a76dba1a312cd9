import { dateOfDay, dayNumber } from "./fields.ts";
import type { ClaimLine, Visit, World } from "./generate.ts";
import { encodeNam } from "./nam.ts";
import type { CodeRef } from "./types.ts";

/**
 * How to break each rule, and only that rule, on one line of `visit`; undefined when this visit cannot
 * (no earlier line to duplicate, no code that fits). Every other rule must stay silent on the line, so a
 * broken code keeps a fitting establishment, a future date keeps a code in effect on that date, and so on.
 */
const INJECTORS: Record<string, (world: World, visit: Visit) => ClaimLine | undefined> = {
  "unknown-code": (w, v) => {
    const valid = w.validLine(v);
    v.anchors.pop(); // not a real code: nothing may copy it
    let n = w.int(0, 9999);
    let code = "";
    do code = `9${String(n++ % 10000).padStart(4, "0")}`;
    while (w.reference.codes.has(code) || v.codesUsed.has(code));
    v.codesUsed.add(code);
    return { ...valid, code: { code, tariff_cents: 0 } };
  },
  "code-not-in-effect": (w, v) => {
    const date = dateOfDay(v.day);
    const code = pickOrNone(
      w,
      w.codes.filter(
        (c) => !w.inEffect(c, date) && w.fits(c, w.isCabinet(v.establishment)) && !v.codesUsed.has(c.code),
      ),
    );
    return code && w.lineFor(v, code);
  },
  "unknown-establishment": (w, v) => {
    const line = lineWith(w, v, {});
    let number = "";
    do number = String(w.int(90_000, 99_999));
    while (w.reference.establishments.has(number));
    return line && { ...line, establishment: { number, type: "unknown" } };
  },
  "inactive-establishment": (w, v) => {
    const establishment = pickOrNone(
      w,
      w.establishments.filter((e) => !e.active),
    );
    return establishment && lineWith(w, v, { establishment });
  },
  "place-of-service-mismatch": (w, v) => {
    const cabinet = w.isCabinet(v.establishment);
    const wrong = cabinet ? "etablissement" : "cabinet";
    return lineWith(w, v, {}, (c) => c.place_of_service === wrong, true);
  },
  "context-required": (w, v) => {
    const line = lineWith(w, v, {}, (c) => c.requires_context);
    return line && { ...line, contexts: [] };
  },
  "unknown-context": (w, v) => {
    const line = lineWith(w, v, {});
    const inactive = [...w.reference.contexts.values()].filter((c) => !c.active).map((c) => c.code);
    const bad = w.pick(
      [...inactive, "XYZ", "NOCT2", "URG9"].filter((c) => w.reference.contexts.get(c)?.active !== true),
    );
    return line && { ...line, contexts: [...line.contexts, bad] };
  },
  "service-date-in-future": (w, v) => lineWith(w, v, { day: w.todayDay + w.int(1, 30) }),
  "service-too-old": (w, v) =>
    lineWith(w, v, { day: dayNumber(v.submission) - w.int(w.maxDays + 1, w.maxDays + 200) }),
  "amount-not-positive": (w, v) => {
    const line = lineWith(w, v, {});
    return line && { ...line, amount: w.rand() < 0.5 ? 0 : -line.amount };
  },
  "amount-above-tariff": (w, v) => {
    const line = lineWith(w, v, {});
    return line && { ...line, amount: line.code.tariff_cents * line.units + w.int(1, 5000) };
  },
  "nam-invalid": (w, v) => {
    const line = lineWith(w, v, {});
    if (!line) return undefined;
    const letters = v.nam.slice(0, 4);
    const serial = Number(v.nam.slice(10));
    const wrongBirth = dateOfDay(dayNumber(v.birth) + w.int(1, 27)); // another day, same NAM shape
    const nam = w.pick([
      encodeNam(letters, wrongBirth, w.rand() < 0.5, serial),
      `${letters.slice(0, 3)}1${v.nam.slice(4)}`, // a digit among the letters
      v.nam.slice(0, 11), // one digit short
    ]);
    return { ...line, nam };
  },
  "duplicate-line": (w, v) => {
    const anchor = takeAnchor(w, v, (a) => room(a) >= 1);
    if (!anchor) return undefined;
    const units = room(anchor) >= anchor.units ? anchor.units : 1;
    return { ...anchor, lineNo: v.lines - v.remaining, units, amount: anchor.code.tariff_cents * units };
  },
  "max-per-day-exceeded": (w, v) => {
    const anchor = takeAnchor(w, v, (a) => room(a) !== Number.POSITIVE_INFINITY);
    if (!anchor) return undefined;
    const units = room(anchor) + 1;
    const physician = w.pick(w.physicians.filter((p) => p !== v.physician));
    // Another physician's invoice: same patient, code and day, but not a duplicate line.
    return {
      ...anchor,
      invoice: w.nextInvoice(),
      lineNo: 1,
      physician,
      units,
      amount: anchor.code.tariff_cents * units,
    };
  },
};

/** The rule ids the generator can break, in rules.csv order. */
export const INJECTABLE_RULES: readonly string[] = Object.keys(INJECTORS);

export function injectError(ruleId: string, world: World, visit: Visit): ClaimLine | undefined {
  return INJECTORS[ruleId]?.(world, visit);
}

/** A line for a code billable on `overrides.day` at `overrides.establishment` (the visit's by default). */
function lineWith(
  w: World,
  v: Visit,
  overrides: Partial<ClaimLine>,
  filter?: (c: CodeRef) => boolean,
  anyPlace = false,
): ClaimLine | undefined {
  const day = overrides.day ?? v.day;
  const establishment = overrides.establishment ?? v.establishment;
  const date = dateOfDay(day);
  const candidates = anyPlace
    ? w.codes.filter((c) => w.inEffect(c, date) && !v.codesUsed.has(c.code) && (!filter || filter(c)))
    : w.codesFor(day, establishment, v.codesUsed, filter);
  const code = pickOrNone(w, candidates);
  return code && w.lineFor(v, code, overrides);
}

function pickOrNone<T>(w: World, items: readonly T[]): T | undefined {
  return items.length > 0 ? w.pick(items) : undefined;
}

/** Units the code still allows this patient on the anchor's day. */
function room(anchor: ClaimLine): number {
  const max = "max_per_day" in anchor.code ? anchor.code.max_per_day : null;
  return max === null ? Number.POSITIVE_INFINITY : max - anchor.units;
}

function takeAnchor(w: World, v: Visit, usable: (a: ClaimLine) => boolean): ClaimLine | undefined {
  const candidates = v.anchors.filter(usable);
  const anchor = pickOrNone(w, candidates);
  if (anchor) v.anchors.splice(v.anchors.indexOf(anchor), 1);
  return anchor;
}
