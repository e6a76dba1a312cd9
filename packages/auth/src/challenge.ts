import { AppError } from "@fig/service";

/** The realm named in every challenge, so clients can tell Fig's challenge from another's. */
export const AUTH_REALM = "fig";

// RFC 6750 §3: error_description is a quoted string limited to %x20-21 / %x23-5B / %x5D-7E.
function quotable(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, "?").slice(0, 200);
}

/** 401 for a request that carried no bearer token at all (RFC 6750 §3.1: no error code). */
export function missingTokenError(detail: string): AppError {
  return new AppError("unauthorized", detail, {
    headers: { "www-authenticate": `Bearer realm="${AUTH_REALM}"` },
  });
}

/** 401 for a bearer token that is malformed, expired, wrongly signed or carries bad claims. */
export function invalidTokenError(detail: string, cause?: unknown): AppError {
  return new AppError("unauthorized", detail, {
    headers: {
      "www-authenticate": `Bearer error="invalid_token", error_description="${quotable(detail)}"`,
    },
    cause,
  });
}

/** 403 for a valid token whose roles are too weak for the route. */
export function insufficientScopeError(detail: string): AppError {
  return new AppError("forbidden", detail, {
    headers: { "www-authenticate": 'Bearer error="insufficient_scope"' },
  });
}
