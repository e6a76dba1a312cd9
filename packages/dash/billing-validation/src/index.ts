// Dash's billing-file validation contract, written once: the upload and validation-run routes and their
// schemas. The validation service serves it; the monolith's legacy modules serve the same contract.
export * from "./events.ts";
export { FileSchema, uploadFile } from "./files.ts";
export {
  createValidation,
  eventsRoute,
  getValidationRoute,
  listResultsRoute,
  listValidationsRoute,
  ResultSchema,
  resultsCsvRoute,
  ValidationSchema,
} from "./validations.ts";
