-- Row-level security for the tenant-owned tables, as in services/dash/validation: requests run in transactions that do
--   select set_config('app.tenant_id', <tenant>, true); set local role fig_tenant;
-- fig_tenant is not a superuser and does not own the tables, so the policies apply; FORCE makes them apply
-- to the owner too. The role is cluster-wide: create it once, tolerate a concurrent creator.
DO $$ BEGIN
  CREATE ROLE fig_tenant NOLOGIN NOSUPERUSER NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$;
--> statement-breakpoint
DO $$ BEGIN
  EXECUTE format('GRANT fig_tenant TO %I', current_user);
EXCEPTION WHEN others THEN NULL;
END $$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO fig_tenant;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON files, validations, findings TO fig_tenant;
--> statement-breakpoint
-- The blocking validation reads the reference tables inside the tenant's transaction.
GRANT SELECT ON codes, contexts, establishments, rules TO fig_tenant;
--> statement-breakpoint
ALTER TABLE files ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE files FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON files
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
--> statement-breakpoint
ALTER TABLE validations ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE validations FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON validations
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
--> statement-breakpoint
ALTER TABLE findings ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
ALTER TABLE findings FORCE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY tenant_isolation ON findings
  USING (tenant_id = current_setting('app.tenant_id', true))
  WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
