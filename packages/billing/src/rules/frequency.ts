import { z } from "zod";
import { defineRule } from "./define.ts";
import { hash53, KeyTable } from "./hash.ts";

export const duplicateLine = defineRule({
  id: "duplicate-line",
  category: "duplicate",
  severity: "warning",
  scope: "file",
  params: z.object({}),
  start: () => {
    // Bound: one 53-bit hash → first line per distinct (patient, code, date, physician): ≤ 32 bytes a line.
    const firstLines = new KeyTable();
    return {
      check: (line, { patient_nam, billing_code, service_date, physician_number }) => {
        const key = hash53(patient_nam, billing_code, service_date, physician_number);
        const first = firstLines.getOrSet(key, line);
        if (first === undefined) return null;
        const message = `Duplicate of line ${first}: same patient ${patient_nam}, code ${billing_code}, service date ${service_date} and physician ${physician_number}.`;
        return { column: null, message };
      },
    };
  },
});

export const maxPerDayExceeded = defineRule({
  id: "max-per-day-exceeded",
  category: "frequency",
  severity: "error",
  scope: "file",
  params: z.object({}),
  start: ({ reference }) => {
    // Bound: one 53-bit hash → units so far per distinct (patient, code, date), only for codes with a
    // daily maximum: ≤ 32 bytes a line.
    const unitsByDay = new KeyTable();
    return {
      check: (_line, { patient_nam, billing_code, service_date, units }) => {
        const max = reference.codes.get(billing_code)?.max_per_day;
        if (max === null || max === undefined) return null;
        const key = hash53(patient_nam, billing_code, service_date);
        const total = unitsByDay.add(key, units);
        if (total <= max) return null;
        const message = `Code ${billing_code} is limited to ${max} per day per patient; with this line patient ${patient_nam} has ${total} on ${service_date}.`;
        return { column: "units", message };
      },
    };
  },
});
