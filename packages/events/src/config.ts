import { z } from "zod";
import { natsConfigShape } from "./config-shape.ts";

const EventsEnv = z.object(natsConfigShape);

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
