/**
 * What bench/gateway.ts and bench/gateway-scale.ts both do to a gateway they started: split reference-data
 * 50/50 through the admin API (an operator's), and delete the bench's NATS namespace at the end.
 */
import { jetstreamManager } from "../../packages/events/node_modules/@nats-io/jetstream/lib/mod.js";
import { connect } from "../../packages/events/node_modules/@nats-io/transport-node/lib/mod.js";
import { deleteNamespace } from "../../packages/events/src/streams.ts";

/** reference-data at 50/50 over its two upstream names; `operatorToken`: role operator in the operator tenant. */
export async function splitReferenceData(gatewayUrl: string, operatorToken: string): Promise<void> {
  const res = await fetch(`${gatewayUrl}/_fig/routes/reference-data/weights`, {
    method: "PUT",
    headers: { authorization: `Bearer ${operatorToken}`, "content-type": "application/json" },
    body: JSON.stringify({ weights: { monolith: 50, "reference-data": 50 }, reason: "bench" }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`PUT weights answered ${res.status}: ${text}`);
}

/** Deletes the streams and buckets of `namespace` on `natsUrl`; `name` names the connection. */
export async function deleteBenchNamespace(natsUrl: string, namespace: string, name: string): Promise<void> {
  const nc = await connect({ servers: natsUrl, name });
  try {
    await deleteNamespace(await jetstreamManager(nc), namespace);
  } finally {
    await nc.close();
  }
}
