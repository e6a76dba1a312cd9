import { z } from "@hono/zod-openapi";

export const ShadowFieldDiffSchema = z
  .object({
    path: z.string().openapi({
      description: "JSON pointer of the field (RFC 6901); `:status` is the HTTP status",
      example: "/items/0/total_cents",
    }),
    primary: z
      .unknown()
      .openapi({ description: "The primary's value (absent: the field is missing)", example: 1200 }),
    candidate: z
      .unknown()
      .openapi({ description: "The candidate's value (absent: the field is missing)", example: 1250 }),
  })
  .openapi("ShadowFieldDiff");

export const ShadowSampleSchema = z
  .object({
    at: z.string().openapi({
      description: "When the comparison finished (ISO 8601)",
      example: "2025-01-01T12:00:00.000Z",
    }),
    request: z
      .string()
      .openapi({ description: "Path and query of the mirrored GET", example: "/api/codes?limit=5" }),
    requestId: z.string().optional().openapi({ example: "01JD3M6Z8W6Y2F6K8X9V4Q2R1T" }),
    primary: z.string().openapi({ description: "Upstream that served the client", example: "monolith" }),
    candidate: z.string().openapi({ example: "reference-data" }),
    status: z.object({ primary: z.number().int(), candidate: z.number().int() }),
    fields: z
      .array(ShadowFieldDiffSchema)
      .openapi({ description: "Differences that are neither ignored nor noise" }),
    truncated: z.boolean().openapi({ description: "More differing fields than the sample keeps" }),
  })
  .openapi("ShadowSample");

export const ShadowRouteReportSchema = z
  .object({
    route: z.string().openapi({ example: "reference-data" }),
    candidate: z.string().openapi({ example: "reference-data" }),
    mirrored: z.number().int().openapi({ description: "GETs accepted for mirroring" }),
    dropped: z.number().int().openapi({ description: "GETs not mirrored because the shadow queue was full" }),
    compared: z.number().int().openapi({ description: "Mirrored GETs whose candidate answer was compared" }),
    matches: z.number().int().openapi({ description: "Same status and body (ignored paths left out)" }),
    mismatches: z.number().int().openapi({ description: "A status or a non-noise field differed" }),
    noiseOnly: z
      .number()
      .int()
      .openapi({ description: "Differed only in noise fields: counted out of the mismatch rate" }),
    mismatchRate: z
      .number()
      .openapi({ description: "mismatches ÷ compared (0 when nothing compared)", example: 0.02 }),
    candidateErrors: z
      .number()
      .int()
      .openapi({ description: "The candidate could not be reached or timed out" }),
    bodiesNotCompared: z.object({
      tooLarge: z.number().int().openapi({ description: "A body over the size cap: status compared only" }),
      notJson: z.number().int().openapi({ description: "A body that is not JSON: status compared only" }),
    }),
    noise: z.object({
      samples: z.number().int().openapi({ description: "Requests for which the primary was asked twice" }),
      errors: z.number().int().openapi({ description: "Second primary requests that failed" }),
      fields: z
        .array(z.object({ path: z.string(), count: z.number().int() }))
        .openapi({ description: "Fields that differed between two primary answers (array indices as `*`)" }),
    }),
    samples: z.array(ShadowSampleSchema).openapi({ description: "The most recent mismatches, newest last" }),
  })
  .openapi("ShadowRouteReport");

export const ShadowReportSchema = z
  .object({
    queue: z.object({
      max: z
        .number()
        .int()
        .openapi({ description: "Mirrors outstanding at most; beyond it GETs are dropped" }),
      outstanding: z.number().int().openapi({ description: "Mirrors waiting or in flight now" }),
    }),
    routes: z.array(ShadowRouteReportSchema),
  })
  .openapi("ShadowReport");

export type ShadowFieldDiff = z.infer<typeof ShadowFieldDiffSchema>;
export type ShadowSample = z.infer<typeof ShadowSampleSchema>;
export type ShadowRouteReport = z.infer<typeof ShadowRouteReportSchema>;
export type ShadowReport = z.infer<typeof ShadowReportSchema>;
