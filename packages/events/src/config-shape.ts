import { z } from "zod";
import { NAMESPACE_PATTERN } from "./subjects.ts";

/** NATS settings every service using events reads (spread into its config schema). */
export const natsConfigShape = {
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  /** Prefix of every NATS subject and stream, so parallel deployments and test runs never collide. */
  FIG_NAMESPACE: z.string().regex(NAMESPACE_PATTERN, "lower-case letters, digits, - and _").default("fig"),
};
