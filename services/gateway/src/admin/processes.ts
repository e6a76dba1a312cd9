import { z } from "@hono/zod-openapi";

/** `processes` of an admin answer that covers every gateway process sharing the port (cluster-share.ts). */
export const ProcessesSchema = z
  .object({
    of: z.number().int().openapi({ description: "Gateway processes sharing the port", example: 2 }),
    answered: z.number().int().openapi({
      description: "Processes whose figures the answer holds (fewer: one did not answer within a second)",
      example: 2,
    }),
  })
  .openapi("GatewayProcesses");
