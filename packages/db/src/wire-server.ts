import { createServer, type Socket } from "node:net";
import type { PGlite } from "@electric-sql/pglite";

export type WireServer = {
  /** postgres://postgres@host:port/postgres — what psql, drizzle-kit and postgres.js connect to. */
  url: string;
  port: number;
  /** Stops listening, ends every connection (rolling back what each left open) and waits for them. */
  close(): Promise<void>;
};

export type WireServerOptions = {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /**
   * A client that holds the database (inside a transaction, or between Parse and Sync) and sends nothing for
   * this long is disconnected and rolled back, as Postgres' idle_in_transaction_session_timeout does: a psql
   * left at `begin;` would otherwise stop every service. Default 30 s; 0 never.
   */
  idleInTransactionTimeoutMs?: number;
};

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const READY_FOR_QUERY = 0x5a; // 'Z'
const TERMINATE = 0x58; // 'X'
const IDLE = 0x49; // 'I': ReadyForQuery outside any transaction block

/**
 * Serves one PGlite database over the Postgres wire protocol, to any number of clients at once.
 *
 * PGlite has a single session, so clients take turns the way a transaction-mode pooler (PgBouncer) hands
 * out a server connection: a client holds the database from its first message until Postgres answers
 * ReadyForQuery outside a transaction block. Nobody else's statement runs inside its transaction or between
 * its Parse, Bind and Execute. The lock is PGlite's own, so in-process queries on `db` take turns too.
 * Session state (SET, prepared statement names) is shared by all clients, as it is behind PgBouncer.
 *
 * @example
 * const server = await serveOverWire(openPglite(".data/x/pg"), { port: 5482 });
 * // psql postgres://postgres@127.0.0.1:5482/postgres
 */
export async function serveOverWire(
  database: PGlite | Promise<PGlite>,
  { host = "127.0.0.1", port = 0, idleInTransactionTimeoutMs = 30_000 }: WireServerOptions = {},
): Promise<WireServer> {
  // Listening can start before the database is open: early clients wait for it.
  const opened = Promise.resolve(database);
  opened.catch(() => {});
  const connections = new Set<Promise<void>>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    const done = opened
      .then(
        (db) => serveConnection(db, socket, idleInTransactionTimeoutMs),
        () => void socket.destroy(),
      )
      .finally(() => {
        sockets.delete(socket);
        connections.delete(done);
      });
    connections.add(done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  return {
    url: `postgres://postgres@${host}:${bound}/postgres`,
    port: bound,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.end();
      });
      await Promise.allSettled([...connections]);
    },
  };
}

/** One client: reassembles its messages and runs them in order, holding the database per transaction. */
function serveConnection(db: PGlite, socket: Socket, idleTimeoutMs: number): Promise<void> {
  socket.setNoDelay(true);
  let buffer: Buffer = Buffer.alloc(0);
  let started = false;
  let release: (() => void) | null = null; // set while this client holds the database
  let chain = Promise.resolve();
  const names = createStatementNames(`c${++connectionCount}_`);
  const reply = (bytes: Uint8Array) => {
    if (!socket.destroyed) socket.write(bytes);
  };

  const hold = () =>
    new Promise<void>((acquired) => {
      void db.runExclusive(
        () =>
          new Promise<void>((resolve) => {
            release = resolve;
            acquired();
          }),
      );
    });
  const letGo = () => {
    release?.();
    release = null;
  };
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  const watchIdle = () => {
    clearTimeout(idleTimer);
    if (!release || idleTimeoutMs <= 0) return;
    idleTimer = setTimeout(() => {
      reply(
        fatal("25P03", "terminating connection due to idle-in-transaction timeout (the database is shared)"),
      );
      socket.destroy(); // the close handler rolls its transaction back and lets the others in
    }, idleTimeoutMs);
    idleTimer.unref?.();
  };

  const run = async (message: Uint8Array, isStartup: boolean) => {
    if (socket.destroyed) return;
    if (!release) await hold();
    const tail = createMessageTail();
    await db.execProtocolRawStream(message, {
      onRawData: (bytes) => {
        tail.push(bytes);
        reply(bytes);
      },
    });
    // Between transactions (and never mid-startup or mid-COPY) the database goes back to the others.
    if (isStartup || tail.readyStatus() === IDLE) letGo();
    watchIdle();
  };

  const onData = (chunk: Buffer) => {
    clearTimeout(idleTimer);
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    for (;;) {
      if (!started) {
        if (buffer.length < 8) return;
        const length = buffer.readInt32BE(0);
        const code = buffer.readInt32BE(4);
        if (code === SSL_REQUEST || code === GSS_REQUEST) {
          buffer = buffer.subarray(8);
          reply(Buffer.from("N")); // no encryption on a local dev port
          continue;
        }
        if (code === CANCEL_REQUEST) {
          socket.end(); // PGlite has no backend to interrupt
          return;
        }
        if (buffer.length < length) return;
        const startup = new Uint8Array(buffer.subarray(0, length));
        buffer = buffer.subarray(length);
        started = true;
        chain = chain.then(() => run(startup, true));
        continue;
      }
      if (buffer.length < 5) return;
      const length = 1 + buffer.readInt32BE(1);
      if (buffer.length < length) return;
      const message = names.rename(buffer.subarray(0, length));
      buffer = buffer.subarray(length);
      if (message[0] === TERMINATE) {
        socket.end();
        return;
      }
      chain = chain.then(() => run(message, false));
    }
  };

  return new Promise<void>((resolve) => {
    socket.on("data", (chunk) => {
      onData(chunk as Buffer);
      chain = chain.catch((error) => {
        socket.destroy(error as Error);
      });
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(idleTimer);
      // Whatever the client left open is undone before anyone else gets the database.
      chain = chain.then(async () => {
        const ignore = { onRawData: () => {} };
        if (!release) await hold();
        await db.execProtocolRawStream(SYNC, ignore).catch(() => {});
        if (db.isInTransaction()) await db.execProtocolRawStream(ROLLBACK, ignore).catch(() => {});
        // Its prepared statements would otherwise live as long as the database.
        for (const close of names.closeAll()) await db.execProtocolRawStream(close, ignore).catch(() => {});
        if (names.count() > 0) await db.execProtocolRawStream(SYNC, ignore).catch(() => {});
        letGo();
      });
      void chain.then(resolve, resolve);
    });
  });
}

let connectionCount = 0;

const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);
const PARSE = 0x50; // 'P'
const BIND = 0x42; // 'B'
const DESCRIBE = 0x44; // 'D'
const CLOSE = 0x43; // 'C'
const STATEMENT = 0x53; // 'S' in Describe/Close

/**
 * Prepared statement and portal names are per connection in Postgres, but every client here shares PGlite's one
 * session: Bun.SQL's "P0" from two connections would collide. Each connection's names get its own prefix (the
 * unnamed ones stay unnamed), and the names it prepared are remembered so they can be closed when it leaves.
 */
function createStatementNames(prefix: string) {
  const prepared = new Set<string>();
  const at = (message: Buffer, offset: number) => {
    const end = message.indexOf(0, offset);
    return { name: message.toString("utf8", offset, end), end: end + 1 };
  };
  const named = (name: string) => (name === "" ? "" : `${prefix}${name}`);
  const build = (type: number, parts: (Buffer | string)[]) => {
    const body = Buffer.concat(parts.map((p) => (typeof p === "string" ? Buffer.from(`${p}\0`) : p)));
    const message = Buffer.alloc(5 + body.length);
    message[0] = type;
    message.writeInt32BE(4 + body.length, 1);
    body.copy(message, 5);
    return new Uint8Array(message);
  };
  return {
    rename(message: Buffer): Uint8Array {
      const type = message[0];
      if (type === PARSE) {
        const statement = at(message, 5);
        if (statement.name) prepared.add(statement.name);
        return build(PARSE, [named(statement.name), message.subarray(statement.end)]);
      }
      if (type === BIND) {
        const portal = at(message, 5);
        const statement = at(message, portal.end);
        return build(BIND, [named(portal.name), named(statement.name), message.subarray(statement.end)]);
      }
      if (type === DESCRIBE || type === CLOSE) {
        const kind = message[5] ?? 0;
        const target = at(message, 6);
        if (type === CLOSE && kind === STATEMENT) prepared.delete(target.name);
        return build(type, [Buffer.from([kind]), named(target.name)]);
      }
      return new Uint8Array(message);
    },
    /** Close messages for every statement this connection prepared and did not close. */
    closeAll(): Uint8Array[] {
      return [...prepared].map((name) => build(CLOSE, [Buffer.from([STATEMENT]), named(name)]));
    },
    count: () => prepared.size,
  };
}
const ROLLBACK = simpleQuery("ROLLBACK");

/** An ErrorResponse of severity FATAL, as a backend sends before it closes the connection. */
function fatal(code: string, message: string): Uint8Array {
  const body = Buffer.from(`SFATAL\0VFATAL\0C${code}\0M${message}\0\0`);
  const out = Buffer.alloc(5 + body.length);
  out[0] = 0x45; // 'E'
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return new Uint8Array(out);
}

function simpleQuery(text: string): Uint8Array {
  const body = Buffer.from(`${text}\0`);
  const message = Buffer.alloc(5 + body.length);
  message[0] = 0x51; // 'Q'
  message.writeInt32BE(4 + body.length, 1);
  body.copy(message, 5);
  return new Uint8Array(message);
}

/**
 * Follows the message boundaries of a backend reply, however it is chunked, to tell whether it ended with
 * ReadyForQuery and with which transaction status ('I' idle, 'T' in a transaction, 'E' failed one).
 */
function createMessageTail() {
  let header: Buffer = Buffer.alloc(0); // the part of a 5-byte header seen so far
  let remaining = 0; // body bytes of the current message still to come
  let type = 0;
  let lastType = 0;
  let lastByte = 0;
  return {
    push(bytes: Uint8Array) {
      let i = 0;
      while (i < bytes.length) {
        if (remaining > 0) {
          const take = Math.min(remaining, bytes.length - i);
          i += take;
          remaining -= take;
          lastByte = bytes[i - 1] ?? 0;
          if (remaining === 0) lastType = type;
          continue;
        }
        const need = 5 - header.length;
        header = Buffer.concat([header, bytes.subarray(i, i + need)]);
        i += Math.min(need, bytes.length - i);
        if (header.length < 5) return;
        type = header[0] ?? 0;
        remaining = header.readInt32BE(1) - 4;
        header = Buffer.alloc(0);
        if (remaining === 0) lastType = type;
      }
    },
    /** The status byte of the final ReadyForQuery, or null when the reply did not end with one. */
    readyStatus(): number | null {
      return lastType === READY_FOR_QUERY && remaining === 0 ? lastByte : null;
    },
  };
}
