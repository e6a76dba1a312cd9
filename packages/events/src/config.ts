import { loadConfigOrExit, parseConfig, withoutEmptyValues } from "@fig/service";
import { z } from "zod";
import { natsConfigShape } from "./config-shape.ts";

const EventsEnv = z.object(natsConfigShape);

/** For the events CLI: the only place this package reads the environment (every bad variable, then exit 1). */
export function loadEventsCliConfig() {
  return loadConfigOrExit("events", () => parseConfig(EventsEnv, withoutEmptyValues(process.env)));
}
