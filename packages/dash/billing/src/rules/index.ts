import { amountAboveTariff, amountNotPositive } from "./amount.ts";
import { codeNotInEffect, unknownCode } from "./code.ts";
import { contextRequired, unknownContext } from "./context.ts";
import { serviceDateInFuture, serviceTooOld } from "./dates.ts";
import type { RuleDefinition } from "./define.ts";
import { inactiveEstablishment, placeOfServiceMismatch, unknownEstablishment } from "./establishment.ts";
import { duplicateLine, maxPerDayExceeded } from "./frequency.ts";
import { namInvalid } from "./patient.ts";

/** The rules this package knows, in the order their findings are reported for a line (as in rules.csv). */
export const BUILTIN_RULES: readonly RuleDefinition[] = [
  unknownCode,
  codeNotInEffect,
  unknownEstablishment,
  inactiveEstablishment,
  placeOfServiceMismatch,
  contextRequired,
  unknownContext,
  serviceDateInFuture,
  serviceTooOld,
  amountNotPositive,
  amountAboveTariff,
  namInvalid,
  duplicateLine,
  maxPerDayExceeded,
] as RuleDefinition[];
