import { type JetStreamManager, RetentionPolicy, StorageType, type StreamConfig } from "@nats-io/jetstream";
import { streamNames } from "./subjects.ts";

const SECOND_NS = 1_000_000_000;

/** The streams every Fig deployment has, per namespace: events (with broker dedupe on Nats-Msg-Id) and dead letters. */
export function streamConfigs(namespace: string): (Partial<StreamConfig> & { name: string })[] {
  const names = streamNames(namespace);
  return [
    {
      name: names.events,
      subjects: [`${namespace}.events.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 7 * 24 * 3600 * SECOND_NS,
      // The relay republishes after a crash between publish and mark; the broker drops the copy.
      duplicate_window: 2 * 60 * SECOND_NS,
    },
    {
      name: names.jobs,
      subjects: [`${namespace}.jobs.>`],
      // Each job goes to one worker and is removed once acknowledged.
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      duplicate_window: 2 * 60 * SECOND_NS,
    },
    {
      name: names.deadLetters,
      subjects: [`${namespace}.dlq.>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: 30 * 24 * 3600 * SECOND_NS,
    },
  ];
}

/** Creates the namespace's streams, or updates them to the declared config; safe to run on every start. */
export async function ensureStreams(jsm: JetStreamManager, namespace: string): Promise<void> {
  for (const config of streamConfigs(namespace)) {
    const name = config.name;
    const exists = await jsm.streams.info(name).then(
      () => true,
      () => false,
    );
    if (exists) await jsm.streams.update(name, config);
    else await jsm.streams.add(config);
  }
}

/** Removes the namespace's streams (tests clean up after themselves). */
export async function deleteStreams(jsm: JetStreamManager, namespace: string): Promise<void> {
  for (const config of streamConfigs(namespace))
    await jsm.streams.delete(config.name as string).catch(() => {});
}

/**
 * Deletes everything a namespace has on the JetStream server: its events, jobs and dead-letter streams, and
 * every KV bucket and object store named after it (streams `KV_<namespace>_…` and `OBJ_<namespace>_…`: the
 * gateway's routes, promotions, datasync records, stored files). For the throwaway namespaces of tests and
 * benchmarks; returns the names deleted. Buckets are matched by the `<namespace>_` prefix of their names, so a
 * namespace that is this one plus `_…` would lose its buckets too: give throwaway namespaces random names.
 *
 * @example
 * await deleteNamespace(await nats.manager(), namespace); // in afterAll
 */
export async function deleteNamespace(jsm: JetStreamManager, namespace: string): Promise<string[]> {
  const exact = new Set(Object.values(streamNames(namespace)));
  const prefixes = [`KV_${namespace}_`, `OBJ_${namespace}_`];
  const ours: string[] = [];
  for await (const info of jsm.streams.list()) {
    const name = info.config.name;
    if (exact.has(name) || prefixes.some((prefix) => name.startsWith(prefix))) ours.push(name);
  }
  for (const name of ours) await jsm.streams.delete(name).catch(() => {});
  return ours;
}
