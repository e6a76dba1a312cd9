import { describe, expect, test } from "bun:test";
import { natsServerBinary } from "../src/nats.ts";

describe("natsServerBinary: PATH first, then the fallback, else a clear error", () => {
  test("the one on PATH wins over the fallback", () => {
    expect(natsServerBinary(() => "/opt/nats/nats-server", process.execPath)).toBe("/opt/nats/nats-server");
  });
  test("not on PATH: the fallback, when it is executable", () => {
    expect(natsServerBinary(() => null, process.execPath)).toBe(process.execPath);
  });
  test("neither: an error that names both places", () => {
    expect(() => natsServerBinary(() => null, "/nonexistent/nats-server")).toThrow(
      /no nats-server on PATH nor at \/nonexistent\/nats-server/,
    );
  });
});
