import { z } from "zod";
import { namProblem } from "../nam.ts";
import { defineRule } from "./define.ts";

export const namInvalid = defineRule({
  id: "nam-invalid",
  category: "patient",
  severity: "error",
  scope: "row",
  params: z.object({}),
  check: ({ patient_nam, patient_birth_date }) => {
    const problem = namProblem(patient_nam, patient_birth_date);
    return problem ? { column: "patient_nam", message: `${problem}.` } : null;
  },
});
