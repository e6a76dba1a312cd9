import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createNatsClient, deleteNamespace, ensureStreams, streamNames } from "@fig/events";
import { parseRouteFile } from "@fig/route-file";
import type { QueueDeclaration } from "@fig/route-file/queues";
import { TEST_NATS_URL } from "@fig/testing";
import { headers as natsHeaders } from "@nats-io/nats-core";
import { type JobsSnapshot, queueStreamName } from "../src/admin/jobs.ts";
import { bearer, operator, testGateway } from "./harness.ts";

// A second system's work queue beside Dash's, each in its own stream, in a namespace of this file's own.
const namespace = `jobs${crypto.randomUUID().replace(/-/g, "").slice(0, 10)}`;
const nats = createNatsClient({ servers: TEST_NATS_URL, name: "gateway-jobs-test" });

/** Dash's validation queue exactly as the repository's route file declares it. */
const validation = parseRouteFile(
  readFileSync(join(import.meta.dir, "../../../fig.yaml"), "utf8"),
  "fig.yaml",
).queues?.find((q) => q.name === "validation") as QueueDeclaration;

/** A made-up note service's transcriptions: its own stream, consumer and event names; no failed event. */
const transcription: QueueDeclaration = {
  name: "notes-transcription",
  label: "Transcriptions",
  description: "A note's audio becomes text.",
  stream: "TRANSCRIPTION",
  consumer: "transcriber",
  subject: "transcription.requested",
  events: { requested: "transcription.requested", completed: "transcription.completed" },
  itemId: "note.id",
  progress: "/api/notes/{id}/transcription/events",
};

const gateway = testGateway({ jobs: { nats, namespace, queues: [validation, transcription] } });
const bare = testGateway({ jobs: { nats, namespace, queues: [] } });
const transcriptionStream = queueStreamName(namespace, "TRANSCRIPTION");

async function publish(subject: string, type: string, data: unknown, tenant = "clinic-7") {
  const h = natsHeaders();
  h.set("ce-specversion", "1.0");
  h.set("ce-id", crypto.randomUUID());
  h.set("ce-type", type);
  h.set("ce-time", new Date().toISOString());
  h.set("tenant", tenant);
  const js = await nats.jetstream();
  return js.publish(subject, JSON.stringify(data), { headers: h });
}

async function jobs(app = gateway.app): Promise<JobsSnapshot> {
  const res = await app.request("/_fig/jobs", { headers: await operator() });
  expect(res.status).toBe(200);
  return (await res.json()) as JobsSnapshot;
}

const queueNamed = (snapshot: JobsSnapshot, name: string) => {
  const queue = snapshot.queues.find((q) => q.name === name);
  if (!queue) throw new Error(`no queue ${name} in ${JSON.stringify(snapshot)}`);
  return queue;
};

beforeAll(async () => {
  const jsm = await nats.manager();
  await ensureStreams(jsm, namespace);
  await jsm.streams.add({
    name: transcriptionStream,
    subjects: [`${namespace}.transcription.>`],
    retention: "workqueue",
  });
  const minutes = 10 * 60 * 1_000_000_000;
  await jsm.consumers.add(transcriptionStream, {
    durable_name: "transcriber",
    ack_policy: "explicit",
    filter_subject: `${namespace}.transcription.requested`,
    ack_wait: minutes,
  });
  await jsm.consumers.add(streamNames(namespace).jobs, {
    durable_name: "validation-worker",
    ack_policy: "explicit",
    filter_subject: `${namespace}.jobs.validation.requested`,
    ack_wait: minutes,
  });
});

afterAll(async () => {
  const jsm = await nats.manager();
  await jsm.streams.delete(transcriptionStream).catch(() => {});
  await deleteNamespace(jsm, namespace);
  await nats.close();
});

describe("GET /_fig/jobs: every queue the route file declares", () => {
  test("empty queues are listed in the declared order, with their streams and consumers", async () => {
    const snapshot = await jobs();
    expect(snapshot.queues.map((q) => q.name)).toEqual(["validation", "notes-transcription"]);
    expect(queueNamed(snapshot, "notes-transcription")).toEqual({
      name: "notes-transcription",
      label: "Transcriptions",
      description: "A note's audio becomes text.",
      stream: transcriptionStream,
      streamFound: true,
      consumer: "transcriber",
      consumerFound: true,
      itemId: "note.id",
      progress: "/api/notes/{id}/transcription/events",
      counts: { queued: 0, processing: 0, completed: 0, failed: null, deadLettered: 0 },
      runs: [],
    });
    expect(queueNamed(snapshot, "validation")).toMatchObject({
      stream: streamNames(namespace).jobs,
      consumer: "validation-worker",
      consumerFound: true,
      counts: { queued: 0, processing: 0, completed: 0, failed: 0, deadLettered: 0 },
    });
  });

  test("the made-up queue's jobs are counted and listed; Dash's queue counts only its own", async () => {
    const notes = ["note-1", "note-2", "note-3"];
    for (const id of notes)
      await publish(`${namespace}.transcription.requested`, "transcription.requested", { note: { id } });
    await publish(`${namespace}.jobs.validation.requested`, "validation.requested", {
      validationId: "5d3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d",
      fileId: "0f3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d",
    });
    // A worker takes the first transcription and has not acknowledged it yet.
    const js = await nats.jetstream();
    const taken = await (await js.consumers.get(transcriptionStream, "transcriber")).next({
      expires: 10_000,
    });
    expect(taken?.json()).toEqual({ note: { id: "note-1" } });
    // Outcomes in the events stream (another source's copy counts too), and a dead letter of the transcriber.
    for (const subject of [
      "transcription.completed",
      "transcription.completed",
      "transcription.completed.asr",
    ])
      await publish(`${namespace}.events.${subject}`, "transcription.completed", {});
    await publish(`${namespace}.events.transcription.failed`, "transcription.failed", {});
    await publish(`${namespace}.dlq.transcriber`, "transcription.requested", { note: { id: "note-0" } });

    const snapshot = await jobs();
    const queue = queueNamed(snapshot, "notes-transcription");
    // failed stays null: the declaration names no failed event, so the one published is not this queue's.
    expect(queue.counts).toEqual({ queued: 2, processing: 1, completed: 3, failed: null, deadLettered: 1 });
    expect(queue.runs.map((r) => [r.id, r.state, r.tenant])).toEqual([
      ["note-1", "processing", "clinic-7"],
      ["note-2", "queued", "clinic-7"],
      ["note-3", "queued", "clinic-7"],
    ]);
    expect(queueNamed(snapshot, "validation").counts).toEqual({
      queued: 1,
      processing: 0,
      completed: 0,
      failed: 0,
      deadLettered: 0,
    });
    expect(queueNamed(snapshot, "validation").runs.map((r) => r.id)).toEqual([
      "5d3c1a2b-7e8f-4a6b-9c0d-1e2f3a4b5c6d",
    ]);

    // Acknowledged, the job leaves the work queue and the list.
    await taken?.ackAck();
    const after = queueNamed(await jobs(), "notes-transcription");
    expect(after.counts).toMatchObject({ queued: 2, processing: 0 });
    expect(after.runs.map((r) => r.id)).toEqual(["note-2", "note-3"]);
  });

  test("a declared stream that does not exist yet is reported, not an error", async () => {
    const missing = { ...transcription, name: "not-yet", stream: "NOT_YET" };
    const app = testGateway({ jobs: { nats, namespace, queues: [missing] } }).app;
    expect(queueNamed(await jobs(app), "not-yet")).toMatchObject({
      streamFound: false,
      consumerFound: false,
      counts: { queued: 0, processing: 0 },
      runs: [],
    });
  });

  test("no queue declared: an empty list", async () => {
    expect(await jobs(bare.app)).toEqual({ queues: [] });
  });

  test("a tenant's viewer or admin is refused: the job lists span every tenant (operators only)", async () => {
    for (const roles of [["viewer"], ["admin"]] as const) {
      const headers = await bearer({ roles: [...roles], tenant: "clinic-7" });
      expect((await gateway.app.request("/_fig/jobs", { headers })).status).toBe(403);
      expect((await gateway.app.request("/_fig/console/sections/jobs", { headers })).status).toBe(403);
    }
  });
});

describe("the console's Jobs tab, as the server renders it", () => {
  const section = async (app: typeof gateway.app) => {
    const res = await app.request("/_fig/console/sections/jobs", { headers: await operator() });
    expect(res.status).toBe(200);
    return res.text();
  };

  test("one panel per declared queue, the made-up one with its jobs and progress endpoints", async () => {
    const html = await section(gateway.app);
    expect(html).toContain('id="queue-validation"');
    expect(html).toContain('id="queue-notes-transcription"');
    expect(html).toContain("Transcriptions");
    expect(html).toContain(transcriptionStream);
    const panel = html.slice(html.indexOf('id="queue-notes-transcription"'));
    expect(panel).toContain('data-run="note-2"');
    expect(panel).toContain('data-progress="/api/notes/note-2/transcription/events"');
    // A run's progress is its tenant's to read, with the tenant's own token: the operator is told whose it is.
    expect(panel).toContain("progress visible to tenant clinic-7");
  });

  test("no queue declared: an empty state that says how to declare one", async () => {
    const html = await section(bare.app);
    expect(html).toContain("No work queue declared");
    expect(html).toContain("queues:");
    expect(html).not.toContain('class="card queue"');
  });
});
