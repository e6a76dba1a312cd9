import type { AuditRecorder } from "@fig/audit/publish";
import type { EngineChoice } from "@fig/loadgate";
import type { GatewayClient } from "../gateway-client.ts";
import type { PromotionRecord, Weights } from "../schema.ts";
import type { PromotionStore, Stored } from "../store.ts";

/** What the live display shows while a step measures. */
export type LiveProgress = {
  step: number;
  of: number;
  weights: Weights;
  phase: "shadow" | "measuring" | "holding" | "paused";
  elapsedMs: number;
  stepElapsedMs: number;
  p95: number | null;
  errorRate: number | null;
  requests: number;
};

export type PromoteOptions = {
  route: string;
  candidate: string;
  steps: number[];
  stepDurationMs: number;
  minRequests: number;
  /** How long a step may stay inconclusive (too few candidate requests) before it fails. */
  inconclusiveDeadlineMs: number;
  /** The gate script; default: the route's `gate` from the route file (as the gateway reports it). */
  gate?: string | undefined;
  vus: number;
  shadow: { durationMs: number; budget: number } | null;
  baseUrl: string;
  /** A token with role gate (pins with x-fig-route) and what the journey needs, for the gate script. */
  gateToken: string;
  /** The gate token's roles and tenant, recorded with the promotion (the CLI mints them from the route file). */
  gateIdentity?: { roles: string[]; tenant: string; minted: boolean };
  actor: string;
  store: PromotionStore;
  gateway: GatewayClient;
  /** A lock not renewed within this is a dead process's. */
  leaseMs?: number;
  engine?: EngineChoice;
  env?: Record<string, string>;
  /** Abort (SIGINT/SIGTERM): the route is recorded paused, holding its weights. */
  signal?: AbortSignal;
  onProgress?: (p: LiveProgress) => void;
  log?: (line: string) => void;
  /** Continue this (paused) promotion instead of starting a new one (`promote resume`). */
  resume?: Stored<PromotionRecord>;
  /** Where each decision and the outcome are recorded for the audit log, with the actor's tenant. */
  audit?: { recorder: Pick<AuditRecorder, "record">; tenant: string | null };
};

export type PromoteOutcome = {
  state: PromotionRecord["state"];
  record: PromotionRecord;
  reason: string | null;
};
