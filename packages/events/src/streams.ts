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
