import { z } from "zod";

/**
 * The tables a route's data sync backfills, syncs, verifies and flips (packages/datasync reads it).
 * Placeholder shape: packages/datasync defines the real one.
 */
export const dataDeclarationSchema = z.object({}).passthrough();

export type DataDeclaration = z.infer<typeof dataDeclarationSchema>;
