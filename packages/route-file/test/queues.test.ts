import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseRouteFile, RouteFileError } from "../src/index.ts";
import { queueDeclarationSchema, queueDeclarationsSchema } from "../src/queues.ts";

const ROOT = join(import.meta.dir, "../../..");

/** A route file with nothing but one upstream, the default route and these queues (YAML flow style). */
const fileWith = (queues: unknown[]) =>
  [
    "upstreams: { legacy: { url: 'http://127.0.0.1:9' } }",
    "monolith: { backendRef: legacy, prefix: /api }",
    `queues: ${JSON.stringify(queues)}`,
  ].join("\n");

const transcription = {
  name: "notes-transcription",
  label: "Transcriptions",
  stream: "TRANSCRIPTION",
  consumer: "transcriber",
  subject: "transcription.requested",
  events: { requested: "transcription.requested", completed: "transcription.completed" },
  itemId: "note.id",
  progress: "/api/notes/{id}/transcription/events",
};

/** Every `path: reason` the route file's loader reports for `queues`. */
function issuesOf(queues: unknown[]): string[] {
  try {
    parseRouteFile(fileWith(queues), "test.yaml");
  } catch (error) {
    if (error instanceof RouteFileError) return error.issues.map((i) => `${i.path}: ${i.reason}`);
    throw error;
  }
  return [];
}

describe("queues: in the route file", () => {
  test("Dash's validation queue in fig.yaml is a valid declaration, as the console reads it", () => {
    const file = parseRouteFile(readFileSync(join(ROOT, "fig.yaml"), "utf8"), "fig.yaml");
    expect(file.queues?.find((q) => q.name === "validation")).toMatchObject({
      stream: "JOBS",
      consumer: "validation-worker",
      events: {
        requested: "validation.requested",
        completed: "validation.completed",
        failed: "validation.failed",
      },
      itemId: "validationId",
      progress: "/api/validations/{id}/events",
    });
  });

  test("a queue of another system is accepted as declared (completed and failed are optional)", () => {
    expect(issuesOf([transcription])).toEqual([]);
    expect(queueDeclarationSchema.parse(transcription)).toEqual(transcription);
  });

  test("each mistake is reported at its field's path", () => {
    const issues = issuesOf([
      transcription,
      {
        ...transcription,
        name: "Notes Transcription",
        stream: "notes.jobs",
        events: { requested: "requested", completed: "transcription.completed" },
        itemId: "note id",
        progress: "https://evil.example/{id}",
      },
      { ...transcription, name: "second", consumer: undefined, progress: "/api/notes/events", consumr: "x" },
    ]);
    const paths = issues.map((i) => i.slice(0, i.indexOf(": ")));
    expect(paths.sort()).toEqual(
      [
        "queues[1].name",
        "queues[1].stream",
        "queues[1].events.requested",
        "queues[1].itemId",
        "queues[1].progress",
        "queues[2].consumer",
        "queues[2].progress",
        "queues[2]",
      ].sort(),
    );
    expect(issues).toContain(
      'queues[1].progress: must be a path on the gateway starting with one "/" (the viewer\'s token is sent with it)',
    );
    expect(issues).toContain("queues[2].progress: must contain {id}, replaced by the item's id");
    expect(issues.find((i) => i.startsWith("queues[2]: "))).toContain("consumr");
  });

  test("a protocol-relative progress URL is refused: the token would leave the gateway", () => {
    expect(issuesOf([{ ...transcription, progress: "//evil.example/{id}" }])).toEqual([
      'queues[0].progress: must be a path on the gateway starting with one "/" (the viewer\'s token is sent with it)',
    ]);
  });

  test("two queues with one name are refused at the second one's name", () => {
    expect(issuesOf([transcription, { ...transcription, label: "again" }])).toEqual([
      'queues[1].name: duplicate queue name "notes-transcription" (queues[0] has it)',
    ]);
    const result = queueDeclarationsSchema.safeParse([transcription, { ...transcription, label: "again" }]);
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => [i.path, i.message])).toEqual([
      [[1, "name"], 'duplicate queue name "notes-transcription" (queues[0] has it)'],
    ]);
  });
});
