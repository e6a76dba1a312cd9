import {
  createValidation,
  eventsRoute,
  getValidationRoute,
  listResultsRoute,
  listValidationsRoute,
  resultsCsvRoute,
  ValidationSchema,
} from "@dash/billing-validation";
import { errorResponses } from "@fig/service";
import { createRoute, z } from "@hono/zod-openapi";

// The validation contract's routes (@dash/billing-validation, which the validation service serves too), with the
// monolith's documented difference (README): runs are validated inside the request (200 with the finished run,
// not 202). `archived` keeps the monolith's own description.
export { eventsRoute, listResultsRoute, resultsCsvRoute };

export const MonolithValidationSchema = ValidationSchema.extend({
  archived: z.boolean().openapi({
    description: "A run from before the migration (read-only history the validation service does not have)",
    example: false,
  }),
}).openapi("MonolithValidation");

const json = { "application/json": { schema: MonolithValidationSchema } };

export const validateNowRoute = createRoute({
  ...createValidation,
  summary: "Validate an uploaded file (synchronously: the legacy behaviour)",
  description:
    "Parses and validates the whole file inside the request and answers 200 with the finished run (completed, or failed for an unusable header). " +
    "The validation service answers 202 at once instead. Requires role editor.",
  responses: {
    200: {
      description: "The finished run",
      headers: createValidation.responses[202].headers,
      content: json,
    },
    ...errorResponses(400, 401, 403, 404),
  },
});

export const listRunsRoute = createRoute({
  ...listValidationsRoute,
  responses: {
    ...listValidationsRoute.responses,
    200: {
      description: "A page of runs, archived ones included",
      content: {
        "application/json": {
          schema: z
            .object({ items: z.array(MonolithValidationSchema), nextCursor: z.string().nullable() })
            .openapi("MonolithValidationPage"),
        },
      },
    },
  },
});

export const getRunRoute = createRoute({
  ...getValidationRoute,
  responses: { ...getValidationRoute.responses, 200: { description: "The run", content: json } },
});
