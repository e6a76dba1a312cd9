import { z } from "zod";
import { defineRule } from "./define.ts";
import { BoundedKeyTable, hash53 } from "./hash.ts";

export const duplicateLine = defineRule({
  id: "duplicate-line",
  category: "duplicate",
  severity: "warning",
  scope: "file",
  params: z.object({}),
  start: ({ maxKeysInMemory }) => {
    // One 53-bit hash → first line per distinct (patient, code, date, physician); beyond the memory bound the
    // table spills to disk, so a file of any length keeps the same memory.
    const firstLines = new BoundedKeyTable(maxKeysInMemory);
    return {
      close: () => firstLines.close(),
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
  start: ({ reference, maxKeysInMemory }) => {
    // One 53-bit hash → units so far per distinct (patient, code, date), only for codes with a daily maximum;
    // bounded in memory as above.
    const unitsByDay = new BoundedKeyTable(maxKeysInMemory);
    return {
      close: () => unitsByDay.close(),
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
