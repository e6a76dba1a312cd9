/**
 * `bun run events dlq list|show <seq>|replay <seq>`: inspect and replay dead letters.
 * Reads NATS_URL and FIG_NAMESPACE.
 */
import { loadEventsCliConfig } from "./config.ts";
import { listDeadLetters, replayDeadLetter, showDeadLetter } from "./dlq.ts";
import { createNatsClient } from "./nats.ts";

const usage = `usage: bun run events dlq list [--limit N]
       bun run events dlq show <seq>
       bun run events dlq replay <seq>
env: NATS_URL (default nats://127.0.0.1:4222), FIG_NAMESPACE (default fig)`;

const [group, command, arg, ...rest] = process.argv.slice(2);
if (group !== "dlq" || !command || !["list", "show", "replay"].includes(command)) {
  console.error(usage);
  process.exit(2);
}
const seq = Number(arg);
if (command !== "list" && !(Number.isInteger(seq) && seq > 0)) {
  console.error(`${command} needs the dead letter's sequence number (from \`dlq list\`)\n${usage}`);
  process.exit(2);
}

const config = loadEventsCliConfig();
const nats = createNatsClient({ servers: config.NATS_URL, name: "fig-events-cli" });
try {
  if (command === "list") {
    const limitIndex = [arg, ...rest].indexOf("--limit");
    const limit = limitIndex >= 0 ? Number([arg, ...rest][limitIndex + 1]) : 100;
    const letters = await listDeadLetters(nats, config.FIG_NAMESPACE, limit);
    if (letters.length === 0) console.log(`No dead letters in namespace ${config.FIG_NAMESPACE}.`);
    for (const l of letters) {
      console.log(
        `${String(l.seq).padStart(6)}  ${l.deadLetteredAt ?? "?"}  ${l.consumer}  ${l.eventType ?? "?"} ${l.eventId ?? "?"}  after ${l.deliveries} deliveries: ${l.error}`,
      );
    }
  } else if (command === "show") {
    const letter = await showDeadLetter(nats, config.FIG_NAMESPACE, seq);
    if (!letter) {
      console.error(`No dead letter ${seq} in namespace ${config.FIG_NAMESPACE}.`);
      process.exitCode = 1;
    } else console.log(JSON.stringify({ ...letter, data: safeJson(letter.data) }, null, 2));
  } else {
    const letter = await replayDeadLetter(nats, config.FIG_NAMESPACE, seq);
    console.log(
      `Replayed ${letter.eventType ?? "event"} ${letter.eventId ?? ""} to ${letter.subject}; removed dead letter ${seq}.`,
    );
  }
} catch (error) {
  console.error(`events ${command} failed: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  await nats.close();
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
