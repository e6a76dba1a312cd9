import { AppError, type FieldError, type ProblemType } from "./problem.ts";

/**
 * What went wrong in a business verb, said without HTTP: domain code (stores, importers, workers) throws
 * this, and `createApp`'s error handler maps it to problem+json in one place (`problemOfDomainError`).
 */
export type DomainErrorKind =
  | "not_found" // the thing named does not exist (or is not visible to this tenant)
  | "already_exists" // a create collides with an existing key
  | "invalid" // the input breaks a field rule
  | "unprocessable" // well-formed input the verb cannot act on (an empty file, a wrong header)
  | "unsupported_content" // content of a kind the verb does not read (binary, unknown encoding)
  | "too_large" // the input exceeds a limit
  | "precondition_failed" // an If-Match / version check did not hold
  | "unavailable"; // a dependency the verb needs is down; retry later

/**
 * @example
 * throw new DomainError("not_found", `Code ${code} does not exist`);
 */
export class DomainError extends Error {
  readonly kind: DomainErrorKind;
  readonly errors: FieldError[] | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    kind: DomainErrorKind,
    message: string,
    options: { errors?: FieldError[]; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "DomainError";
    this.kind = kind;
    this.errors = options.errors;
    this.details = options.details;
  }
}

const problemOfKind: Record<DomainErrorKind, ProblemType> = {
  not_found: "not_found",
  already_exists: "conflict",
  invalid: "validation",
  unprocessable: "unprocessable",
  unsupported_content: "unsupported_media_type",
  too_large: "payload_too_large",
  precondition_failed: "precondition_failed",
  unavailable: "not_ready",
};

/** The one mapping from a domain failure to its problem+json (used by createApp's onError). */
export function problemOfDomainError(error: DomainError): AppError {
  return new AppError(problemOfKind[error.kind], error.message, {
    errors: error.errors,
    extensions: error.details,
    cause: error,
  });
}
