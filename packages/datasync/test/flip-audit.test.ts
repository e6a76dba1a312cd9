import { describe, expect, test } from "bun:test";
import { normalizeRecord } from "@fig/audit";
import { mintDevToken } from "@fig/auth";
import { catalog } from "@fig/events";
import type { FlipResult } from "../src/flip.ts";
import { flipAuditEntry, tokenActor } from "../src/flip-route.ts";

const result = (outcome: "flipped" | "refused"): FlipResult =>
  ({
    at: "2026-12-07T08:00:00.000Z",
    from: "monolith",
    to: "reference-data",
    outcome,
    reason: outcome === "refused" ? "verify found 2 rows differing in codes" : null,
    heldMs: 412,
    heldWrites: 3,
    drainMs: 120,
    verifyMs: 250,
    totalMs: 800,
    tables: [{ table: "codes", count: 1200, equal: outcome === "flipped" }],
    verify: {
      at: "2026-12-07T08:00:00.000Z",
      owner: "monolith",
      candidate: "reference-data",
      ok: true,
      tables: [],
    },
  }) as FlipResult;

describe("a flip's audit entry", () => {
  test("names who, the owner before and after, and the numbers; the catalog's schema takes it", async () => {
    const token = await mintDevToken({
      sub: "olivia",
      tenant: "platform",
      roles: ["operator"],
      secret: "s".repeat(32),
    });
    const entry = flipAuditEntry("reference-data", result("flipped"), tokenActor(token));
    expect(entry).toMatchObject({
      actor: { sub: "olivia", tenant: "platform" },
      kind: "flip",
      subject: "reference-data",
      from: { writeOwner: "monolith" },
      to: { writeOwner: "reference-data" },
      reason: "flipped",
      data: { heldMs: 412, heldWrites: 3, tables: [{ table: "codes", count: 1200, equal: true }] },
    });
    const { eventId: _id, ...record } = entry;
    expect(catalog["audit.recorded"].schema.safeParse(normalizeRecord(record as never)).success).toBe(true);
  });

  test("a refused flip keeps the owner and says why", () => {
    const entry = flipAuditEntry("reference-data", result("refused"), { sub: "olivia", tenant: "platform" });
    expect(entry.to).toEqual({ writeOwner: "monolith" });
    expect(entry.reason).toBe("refused: verify found 2 rows differing in codes");
  });

  test("a token that is not a JWT names an unknown actor", () => {
    expect(tokenActor("not-a-token")).toEqual({ sub: "unknown", tenant: null });
  });
});
