import { z } from "zod";
import { dayNumber } from "../fields.ts";
import { defineRule } from "./define.ts";

export const serviceDateInFuture = defineRule({
  id: "service-date-in-future",
  category: "date",
  severity: "error",
  scope: "row",
  params: z.object({}),
  check: ({ service_date, submission_date }, { today }) => {
    if (service_date > today) {
      return {
        column: "service_date",
        message: `Service date ${service_date} is in the future (today is ${today}).`,
      };
    }
    if (service_date > submission_date) {
      const message = `Service date ${service_date} is after the submission date ${submission_date}.`;
      return { column: "service_date", message };
    }
    return null;
  },
});

export const serviceTooOld = defineRule({
  id: "service-too-old",
  category: "date",
  severity: "error",
  scope: "row",
  params: z.object({ maxDays: z.number().int().nonnegative().default(90) }),
  check: ({ service_date, submission_date }, { params }) => {
    const age = dayNumber(submission_date) - dayNumber(service_date);
    if (age <= params.maxDays) return null;
    const message = `Service date ${service_date} is ${age} days before the submission date ${submission_date} (at most ${params.maxDays} allowed).`;
    return { column: "service_date", message };
  },
});
