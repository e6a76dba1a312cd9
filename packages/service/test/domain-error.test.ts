import { describe, expect, test } from "bun:test";
import {
  createApp,
  DomainError,
  type DomainErrorKind,
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_BASE,
} from "../src/index.ts";
import { captureLogger } from "./helpers.ts";

// Domain verbs throw DomainError; createApp maps each kind to one problem type, in one place.
const expected: Record<DomainErrorKind, [number, string]> = {
  not_found: [404, "not_found"],
  already_exists: [409, "conflict"],
  invalid: [400, "validation"],
  unprocessable: [422, "unprocessable"],
  unsupported_content: [415, "unsupported_media_type"],
  too_large: [413, "payload_too_large"],
  precondition_failed: [412, "precondition_failed"],
  unavailable: [503, "not_ready"],
};

describe("DomainError → problem+json", () => {
  const { logger, lines } = captureLogger();
  const app = createApp({ name: "t", version: "0", logger });
  app.get("/fail/:kind", (c) => {
    throw new DomainError(c.req.param("kind") as DomainErrorKind, "it went wrong", {
      errors: [{ location: "body.code", message: "bad" }],
      details: { retryable: false },
    });
  });

  for (const [kind, [status, type]] of Object.entries(expected)) {
    test(`${kind} → ${status} ${type}`, async () => {
      const res = await app.request(`/fail/${kind}`, { headers: { "x-request-id": `req-${kind}` } });
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe(PROBLEM_CONTENT_TYPE);
      expect(await res.json()).toMatchObject({
        type: `${PROBLEM_TYPE_BASE}${type}`,
        status,
        detail: "it went wrong",
        instance: `req-${kind}`,
        errors: [{ location: "body.code", message: "bad" }],
        retryable: false,
      });
    });
  }

  test("a domain error is a client-facing answer, not an unhandled error in the log", () => {
    expect(lines.some((l) => l.msg === "unhandled error")).toBe(false);
  });
});
