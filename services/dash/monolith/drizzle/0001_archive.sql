-- The legacy app's history: validation runs from before the migration, with their findings, for two tenants
-- (acme and fig, 60 runs each, one every 5 days from 2024-01-08). The new validation service has none of this;
-- GET /api/validations/{id} shows these runs with `archived: true`. Ids derive from (tenant, n), so the rows
-- are the same on every install (RFC 9562 version 4 form, as the API's uuid fields require). Runs before 0002 turns row-level security on.
INSERT INTO validations (id, tenant_id, file_id, status, rows, counts_by_severity, counts_by_rule,
  requested_by, archived, queued_at, started_at, finished_at)
SELECT
  overlay(overlay(md5('fig-archive-run/' || t.tenant || '/' || n) placing '4' from 13) placing '8' from 17)::uuid,
  t.tenant,
  overlay(overlay(md5('fig-archive-file/' || t.tenant || '/' || n) placing '4' from 13) placing '8' from 17)::uuid,
  'completed',
  800 + n * 37,
  jsonb_build_object('error', n % 5 + 1, 'warning', n % 3, 'info', 0),
  CASE WHEN n % 3 = 0
    THEN jsonb_build_object('unknown-code', n % 5 + 1)
    ELSE jsonb_build_object('unknown-code', n % 5 + 1, 'service-too-old', n % 3) END,
  'legacy-import',
  true,
  timestamptz '2024-01-08 09:00:00+00' + (n - 1) * interval '5 days',
  timestamptz '2024-01-08 09:00:00.250+00' + (n - 1) * interval '5 days',
  timestamptz '2024-01-08 09:00:00.250+00' + (n - 1) * interval '5 days' + (400 + n * 11) * interval '1 millisecond'
FROM (VALUES ('acme'), ('fig')) AS t(tenant), generate_series(1, 60) AS n;
--> statement-breakpoint
INSERT INTO findings (validation_id, tenant_id, seq, line, rule_id, severity, "column", message)
SELECT
  overlay(overlay(md5('fig-archive-run/' || t.tenant || '/' || n) placing '4' from 13) placing '8' from 17)::uuid,
  t.tenant,
  k - 1,
  1 + k * 7,
  CASE WHEN k <= n % 5 + 1 THEN 'unknown-code' ELSE 'service-too-old' END,
  CASE WHEN k <= n % 5 + 1 THEN 'error' ELSE 'warning' END,
  CASE WHEN k <= n % 5 + 1 THEN 'billing_code' ELSE 'service_date' END,
  CASE WHEN k <= n % 5 + 1
    THEN 'Code ' || lpad((90000 + k)::text, 5, '0') || ' is not a known billing code'
    ELSE 'Service date is more than 90 days before the claim' END
FROM (VALUES ('acme'), ('fig')) AS t(tenant), generate_series(1, 60) AS n,
  LATERAL generate_series(1, n % 5 + 1 + n % 3) AS k;
