import { afterAll, expect, test } from "bun:test";
import { createNatsClient, deleteNamespace, ensureStreams, streamNames } from "../src/index.ts";
import { NATS_URL, uniqueNamespace } from "./helpers.ts";

// deleteNamespace on a real JetStream server: everything of one namespace goes, a neighbour's stays.
const nats = createNatsClient({ servers: NATS_URL, name: "events-namespace" });
const ours = uniqueNamespace();
// A namespace whose name starts with ours: its streams and buckets must survive.
const neighbour = `${ours}x`;

afterAll(async () => {
  await deleteNamespace(await nats.manager(), neighbour);
  await deleteNamespace(await nats.manager(), ours);
  await nats.close();
});

async function streamList(): Promise<string[]> {
  const names: string[] = [];
  for await (const info of (await nats.manager()).streams.list()) names.push(info.config.name);
  return names;
}

test("deleteNamespace removes the namespace's streams and KV buckets, and nothing of another namespace", async () => {
  const jsm = await nats.manager();
  // A KV bucket is a stream KV_<bucket> on subjects $KV.<bucket>.> (what @nats-io/kv creates).
  const bucket = (name: string) => jsm.streams.add({ name: `KV_${name}`, subjects: [`$KV.${name}.>`] });
  for (const namespace of [ours, neighbour]) {
    await ensureStreams(jsm, namespace);
    await bucket(`${namespace}_gateway_routes`);
    await bucket(`${namespace}_promotions`);
  }
  const deleted = await deleteNamespace(jsm, ours);
  const expected = [
    ...Object.values(streamNames(ours)),
    `KV_${ours}_gateway_routes`,
    `KV_${ours}_promotions`,
  ];
  expect(deleted.sort()).toEqual(expected.sort());
  const left = await streamList();
  for (const name of expected) expect(left).not.toContain(name);
  // KV_<ours>x_… and <OURS>X_EVENTS begin like ours but are the neighbour's: they stay.
  for (const name of [...Object.values(streamNames(neighbour)), `KV_${neighbour}_gateway_routes`])
    expect(left).toContain(name);
});
