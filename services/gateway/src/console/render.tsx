/** @jsxImportSource hono/jsx */
import type { SectionId } from "./page.tsx";
import { AuditSection } from "./sections/audit.tsx";
import { DataSection } from "./sections/data.tsx";
import { JobsSection } from "./sections/jobs.tsx";
import { MapSection } from "./sections/map.tsx";
import { PromotionsSection } from "./sections/promotions.tsx";
import { ShadowSection } from "./sections/shadow.tsx";
import type { ConsoleSources, Viewer } from "./sources.ts";

/** Every section as HTML for this viewer (admins get the action buttons; the API checks again anyway). */
export async function renderSections(
  sources: ConsoleSources,
  viewer: Viewer,
  options: { promotionActions: boolean },
): Promise<Record<SectionId, string>> {
  // Whole seconds: "time left" moves once a second, and an unchanged section is not sent again.
  const now = Math.floor(Date.now() / 1000) * 1000;
  const routes = sources.routes();
  const [promotions, data, jobs, dlq, audit] = await Promise.all([
    sources.promotions(viewer),
    sources.data(viewer),
    sources.jobs(),
    sources.dlq(),
    sources.audit(viewer),
  ]);
  return {
    map: String(<MapSection routes={routes} share={sources.share()} viewer={viewer} />),
    promotions: String(
      <PromotionsSection
        promotions={promotions}
        routes={routes}
        viewer={viewer}
        now={now}
        actions={options.promotionActions}
      />,
    ),
    data: String(<DataSection routes={routes} status={data} />),
    shadow: String(<ShadowSection report={sources.shadow()} viewer={viewer} />),
    jobs: String(<JobsSection jobs={jobs} dlq={dlq} viewer={viewer} />),
    audit: String(<AuditSection entries={audit} />),
  };
}
