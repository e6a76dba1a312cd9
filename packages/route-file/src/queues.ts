import { z } from "zod";

/**
 * A JetStream work queue the console's Jobs tab shows. Placeholder shape: the console defines the real one.
 */
export const queueDeclarationSchema = z.object({ name: z.string() }).passthrough();

export type QueueDeclaration = z.infer<typeof queueDeclarationSchema>;
