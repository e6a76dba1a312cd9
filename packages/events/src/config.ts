import { z } from "zod";

const EventsEnv = z.object({
  NATS_URL: z.string().default("nats://127.0.0.1:4222"),
  FIG_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "lower-case letters, digits, - and _")
    .default("fig"),
});

/** For the events CLI: the only place this package reads the environment. */
export function loadEventsCliConfig() {
  const parsed = EventsEnv.safeParse(process.env);
  if (!parsed.success) {
    console.error(
      `Invalid configuration:\n${parsed.error.issues.map((i) => `  - ${i.path.join(".")}: ${i.message}`).join("\n")}`,
    );
    process.exit(1);
  }
  return parsed.data;
}
