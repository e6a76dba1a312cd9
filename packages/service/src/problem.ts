import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * The closed catalog of problem types (RFC 9457). Every error a Fig service returns is one of these;
 * the `type` URI is stable and documented, the `title` is the same for every occurrence of the type.
 */
export const problemCatalog = {
  validation: { status: 400, title: "Request validation failed" },
  unauthorized: { status: 401, title: "Authentication required" },
  forbidden: { status: 403, title: "Insufficient role" },
  not_found: { status: 404, title: "Resource not found" },
  conflict: { status: 409, title: "Resource already exists" },
  precondition_failed: { status: 412, title: "Precondition failed" },
  precondition_required: { status: 428, title: "Precondition required" },
  payload_too_large: { status: 413, title: "Payload too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  unprocessable: { status: 422, title: "Unprocessable content" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal: { status: 500, title: "Internal server error" },
  bad_gateway: { status: 502, title: "Upstream failed" },
  not_ready: { status: 503, title: "Service not ready" },
  gateway_timeout: { status: 504, title: "Upstream timed out" },
} as const satisfies Record<string, { status: ContentfulStatusCode; title: string }>;

export type ProblemType = keyof typeof problemCatalog;

/** Base of every problem `type` URI; the fragment names the catalog entry. */
export const PROBLEM_TYPE_BASE = "https://fig.dev/problems/";

export type FieldError = { location: string; message: string; line?: number; column?: string | null };

/**
 * The one error class handlers throw. `onError` renders it as `application/problem+json`.
 *
 * @example
 * throw new AppError("not_found", `Code ${code} does not exist`);
 */
export class AppError extends Error {
  readonly type: ProblemType;
  readonly status: ContentfulStatusCode;
  readonly errors: FieldError[] | undefined;
  readonly extensions: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(
    type: ProblemType,
    detail: string,
    options: {
      errors?: FieldError[];
      extensions?: Record<string, unknown>;
      headers?: Record<string, string>;
      cause?: unknown;
    } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = "AppError";
    this.type = type;
    this.status = problemCatalog[type].status;
    this.errors = options.errors;
    this.extensions = options.extensions;
    this.headers = options.headers;
  }
}

export const FieldErrorSchema = z
  .object({
    location: z.string().openapi({
      description:
        "Where the problem is: `body.<path>`, `query.<name>`, `header.<name>`, `path.<name>` or `line.<n>.<column>`",
      example: "body.tariff_cents",
    }),
    message: z.string().openapi({ example: "Expected number, received string" }),
    line: z
      .number()
      .int()
      .optional()
      .openapi({ description: "CSV imports: the 1-based line of the file", example: 12 }),
    column: z.string().nullable().optional().openapi({
      description: "CSV imports: the column name, null for the whole line",
      example: "tariff_cents",
    }),
  })
  .openapi("FieldError");

export const ProblemSchema = z
  .object({
    type: z
      .string()
      .openapi({ description: "URI naming the problem type", example: `${PROBLEM_TYPE_BASE}validation` }),
    title: z.string().openapi({
      description: "Short summary, the same for every occurrence of the type",
      example: "Request validation failed",
    }),
    status: z.number().int().openapi({ description: "HTTP status code", example: 400 }),
    detail: z
      .string()
      .openapi({ description: "Explanation of this occurrence", example: "1 field is invalid" }),
    instance: z.string().openapi({
      description: "The request id of this occurrence (also in the `x-request-id` header)",
      example: "01JD3M6Z8W6Y2F6K8X9V4Q2R1T",
    }),
    errors: z
      .array(FieldErrorSchema)
      .optional()
      .openapi({ description: "Field-level problems, for validation failures" }),
  })
  .catchall(z.unknown())
  .openapi("Problem");

export type Problem = z.infer<typeof ProblemSchema>;

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** Renders a problem+json response for the request in `c`. */
export function problemResponse(c: Context, error: AppError): Response {
  const body: Problem = {
    type: `${PROBLEM_TYPE_BASE}${error.type}`,
    title: problemCatalog[error.type].title,
    status: error.status,
    detail: error.message,
    instance: c.get("requestId") ?? "",
    ...(error.errors ? { errors: error.errors } : {}),
    ...error.extensions,
  };
  // c.body keeps headers set earlier in the chain (x-request-id, CORS, ...).
  return c.body(JSON.stringify(body), error.status, {
    ...error.headers,
    "content-type": PROBLEM_CONTENT_TYPE,
  });
}

/** Turns zod issues into problem `errors[]` with locations such as `body.tariff_cents`. */
export function fieldErrorsFromZod(
  issues: readonly { path: readonly PropertyKey[]; message: string }[],
  target: string,
): FieldError[] {
  return issues.map((issue) => ({
    location: [target, ...issue.path.map(String)].join("."),
    message: issue.message,
  }));
}

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 412 | 413 | 415 | 422 | 428 | 429 | 502 | 503 | 504;
const statusToType: Record<ErrorStatus, ProblemType> = {
  400: "validation",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  409: "conflict",
  412: "precondition_failed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "unprocessable",
  428: "precondition_required",
  429: "rate_limited",
  502: "bad_gateway",
  503: "not_ready",
  504: "gateway_timeout",
};

/**
 * The `responses` entries for the error statuses a route can return, all problem+json, for `createRoute`.
 *
 * @example
 * responses: { 200: {...}, ...errorResponses(400, 401, 403, 404) }
 */
export function errorResponses<S extends ErrorStatus>(...statuses: S[]) {
  const out = {} as Record<
    S,
    { description: string; content: { [PROBLEM_CONTENT_TYPE]: { schema: typeof ProblemSchema } } }
  >;
  for (const status of statuses) {
    const type = statusToType[status];
    out[status] = {
      description: problemCatalog[type].title,
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
    };
  }
  return out;
}
