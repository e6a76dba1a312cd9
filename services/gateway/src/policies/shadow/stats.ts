import type { UpstreamName, UpstreamRequest } from "../types.ts";
import { type FieldDifference, generalize } from "./diff.ts";
import type { ShadowRouteReport, ShadowSample } from "./report.ts";

/** One route's shadow statistics; the mirroring (mirror.ts) counts into them, the report reads them. */
export type RouteStats = {
  candidate: UpstreamName;
  mirrored: number;
  dropped: number;
  candidateErrors: number;
  tooLarge: number;
  notJson: number;
  noiseSamples: number;
  noiseErrors: number;
  /** Generalized field path → how often two primary answers differed in it. */
  noise: Map<string, number>;
  /** Compared requests grouped by the set of paths that differed: classified against noise at report time. */
  signatures: Map<string, Signature>;
  overflow: { matches: number; mismatches: number; noiseOnly: number };
  samples: (Omit<ShadowSample, "fields" | "truncated"> & { fields: FieldDifference[] })[];
};

type Signature = { paths: string[]; count: number };

/** One comparison, as a sample shows it. */
export type Comparison = {
  request: UpstreamRequest;
  primary: UpstreamName;
  candidate: UpstreamName;
  status: { primary: number; candidate: number };
  /** Every difference that is not ignored, noise included (noise is known only at report time). */
  differences: FieldDifference[];
};

export type ShadowStatsOptions = { samplesPerRoute: number; fieldsPerSample: number };

/** Distinct difference signatures kept per route; past it, requests are classified on arrival. */
const MAX_SIGNATURES = 1000;
/** Differing fields kept per sample before noise is filtered out. */
const MAX_RAW_FIELDS = 200;
const VALUE_PREVIEW_CHARS = 200;

/**
 * The shadow's statistics per route and the report built from them: comparisons are kept grouped by which
 * fields differed, so noise learned later (fields in which the primary differs from itself) is left out of
 * the mismatch rate retroactively; a bounded sample of recent mismatches is kept per route.
 *
 * @example
 * const stats = createShadowStats({ samplesPerRoute: 20, fieldsPerSample: 20 });
 * stats.recordComparison(stats.of("validation", "validation"), comparison);
 * stats.report(); // one ShadowRouteReport per route
 */
export function createShadowStats({ samplesPerRoute, fieldsPerSample }: ShadowStatsOptions) {
  const routes = new Map<string, RouteStats>();

  return {
    /** The route's statistics, made on its first mirror; `candidate` is the one mirrored to last. */
    of(routeId: string, candidate: UpstreamName): RouteStats {
      let stats = routes.get(routeId);
      if (!stats) {
        stats = emptyStats(candidate);
        routes.set(routeId, stats);
      }
      stats.candidate = candidate;
      return stats;
    },

    /** A second answer of the primary: the fields in which it differed from the first are noise. */
    recordNoise(stats: RouteStats, noisy: ReadonlySet<string>): void {
      stats.noiseSamples++;
      for (const path of noisy) stats.noise.set(path, (stats.noise.get(path) ?? 0) + 1);
    },

    recordComparison(stats: RouteStats, comparison: Comparison): void {
      const { differences } = comparison;
      const paths = [...new Set(differences.map((d) => generalize(d.path)))].sort();
      const key = paths.join("\n");
      const signature = stats.signatures.get(key);
      if (signature) signature.count++;
      else if (stats.signatures.size < MAX_SIGNATURES) stats.signatures.set(key, { paths, count: 1 });
      else stats.overflow[classify(paths, stats.noise)]++;

      if (differences.every((d) => stats.noise.has(generalize(d.path)))) return;
      stats.samples.push({
        at: new Date().toISOString(),
        request: pathAndQuery(comparison.request.url),
        requestId: comparison.request.headers.get("x-request-id") ?? undefined,
        primary: comparison.primary,
        candidate: comparison.candidate,
        status: comparison.status,
        fields: differences
          .slice(0, MAX_RAW_FIELDS)
          .map((d) => ({ ...d, primary: clip(d.primary), candidate: clip(d.candidate) })),
      });
      if (stats.samples.length > samplesPerRoute) stats.samples.shift();
    },

    report(): ShadowRouteReport[] {
      return [...routes].map(([route, stats]) => routeReport(route, stats, fieldsPerSample));
    },
  };
}

export type ShadowStats = ReturnType<typeof createShadowStats>;

function emptyStats(candidate: UpstreamName): RouteStats {
  return {
    candidate,
    mirrored: 0,
    dropped: 0,
    candidateErrors: 0,
    tooLarge: 0,
    notJson: 0,
    noiseSamples: 0,
    noiseErrors: 0,
    noise: new Map(),
    signatures: new Map(),
    overflow: { matches: 0, mismatches: 0, noiseOnly: 0 },
    samples: [],
  };
}

function classify(paths: string[], noise: Map<string, number>): "matches" | "mismatches" | "noiseOnly" {
  if (paths.length === 0) return "matches";
  return paths.some((path) => !noise.has(path)) ? "mismatches" : "noiseOnly";
}

function routeReport(route: string, stats: RouteStats, fieldsPerSample: number): ShadowRouteReport {
  const counts = { ...stats.overflow };
  for (const { paths, count } of stats.signatures.values()) counts[classify(paths, stats.noise)] += count;
  const compared = counts.matches + counts.mismatches + counts.noiseOnly;
  const samples: ShadowSample[] = [];
  for (const sample of stats.samples) {
    const fields = sample.fields.filter((d) => !stats.noise.has(generalize(d.path)));
    if (fields.length === 0) continue;
    samples.push({
      ...sample,
      fields: fields.slice(0, fieldsPerSample),
      truncated: fields.length > fieldsPerSample,
    });
  }
  return {
    route,
    candidate: stats.candidate,
    mirrored: stats.mirrored,
    dropped: stats.dropped,
    compared,
    ...counts,
    mismatchRate: compared === 0 ? 0 : counts.mismatches / compared,
    candidateErrors: stats.candidateErrors,
    bodiesNotCompared: { tooLarge: stats.tooLarge, notJson: stats.notJson },
    noise: {
      samples: stats.noiseSamples,
      errors: stats.noiseErrors,
      fields: [...stats.noise].map(([path, count]) => ({ path, count })),
    },
    samples,
  };
}

/** Keeps a sample small: a large value becomes a preview string. */
export function clip(value: unknown): unknown {
  if (value === undefined) return undefined;
  const json = typeof value === "string" ? value : JSON.stringify(value);
  if (json.length <= VALUE_PREVIEW_CHARS) return value;
  return `${json.slice(0, VALUE_PREVIEW_CHARS)}… (${json.length} chars)`;
}

function pathAndQuery(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}
