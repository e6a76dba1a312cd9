/**
 * Something a service runs beside its HTTP app: an event consumer, a worker, a background sync.
 * The bootstrap starts components in the order given (after the outbox relay) and stops them in reverse
 * (after HTTP has drained, before the relay, NATS and the database close).
 */
export type Component = {
  name: string;
  start(): Promise<void> | void;
  /** Must settle promptly: the bootstrap abandons it when the shutdown budget runs out. */
  stop(): Promise<void> | void;
};
