CREATE TABLE "files" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"bytes" bigint NOT NULL,
	"sha256" text NOT NULL,
	"content_type" text NOT NULL,
	"object_name" text NOT NULL,
	"uploaded_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "inbox" (
	"consumer" text NOT NULL,
	"event_id" text NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "inbox_consumer_event_id_pk" PRIMARY KEY("consumer","event_id")
);
--> statement-breakpoint
CREATE TABLE "outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"seq" bigserial NOT NULL,
	"type" text NOT NULL,
	"source" text NOT NULL,
	"subject" text,
	"tenant" text,
	"traceparent" text,
	"data" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	CONSTRAINT "outbox_seq_unique" UNIQUE("seq")
);
--> statement-breakpoint
CREATE TABLE "ref_codes" (
	"code" text PRIMARY KEY NOT NULL,
	"tariff_cents" integer NOT NULL,
	"place_of_service" text NOT NULL,
	"requires_context" boolean NOT NULL,
	"max_per_day" integer,
	"effective_from" text NOT NULL,
	"effective_to" text,
	"active" boolean NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ref_contexts" (
	"code" text PRIMARY KEY NOT NULL,
	"active" boolean NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ref_establishments" (
	"number" text PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"region" text NOT NULL,
	"active" boolean NOT NULL
);
--> statement-breakpoint
CREATE TABLE "ref_rules" (
	"id" text PRIMARY KEY NOT NULL,
	"severity" text NOT NULL,
	"enabled" boolean NOT NULL,
	"params" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "results" (
	"validation_id" uuid NOT NULL,
	"tenant_id" text NOT NULL,
	"seq" integer NOT NULL,
	"line" integer NOT NULL,
	"rule_id" text NOT NULL,
	"severity" text NOT NULL,
	"column" text,
	"message" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "validations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"file_id" uuid NOT NULL,
	"status" text NOT NULL,
	"processed_rows" integer DEFAULT 0 NOT NULL,
	"processed_bytes" bigint DEFAULT 0 NOT NULL,
	"total_bytes" bigint NOT NULL,
	"rows" integer,
	"counts_by_severity" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"counts_by_rule" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"failure_reason" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"requested_by" text NOT NULL,
	"queued_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"duration_ms" integer
);
--> statement-breakpoint
ALTER TABLE "results" ADD CONSTRAINT "results_validation_id_validations_id_fk" FOREIGN KEY ("validation_id") REFERENCES "public"."validations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "validations" ADD CONSTRAINT "validations_file_id_files_id_fk" FOREIGN KEY ("file_id") REFERENCES "public"."files"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "files_tenant_idx" ON "files" USING btree ("tenant_id","created_at");--> statement-breakpoint
CREATE INDEX "outbox_pending_idx" ON "outbox" USING btree ("seq") WHERE "outbox"."sent_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_sent_idx" ON "outbox" USING btree ("sent_at") WHERE "outbox"."sent_at" is not null;--> statement-breakpoint
CREATE INDEX "results_run_idx" ON "results" USING btree ("validation_id","seq");--> statement-breakpoint
CREATE INDEX "validations_tenant_idx" ON "validations" USING btree ("tenant_id","queued_at");