CREATE TABLE "codes" (
	"code" text PRIMARY KEY NOT NULL,
	"description" text NOT NULL,
	"category" text NOT NULL,
	"tariff_cents" integer NOT NULL,
	"unit" text NOT NULL,
	"place_of_service" text NOT NULL,
	"requires_context" boolean DEFAULT false NOT NULL,
	"max_per_day" integer,
	"effective_from" date NOT NULL,
	"effective_to" date,
	"active" boolean DEFAULT true NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"search_text" text NOT NULL,
	CONSTRAINT "codes_effective_range" CHECK ("codes"."effective_to" is null or "codes"."effective_to" >= "codes"."effective_from")
);
--> statement-breakpoint
CREATE TABLE "contexts" (
	"code" text PRIMARY KEY NOT NULL,
	"description" text NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"search_text" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "establishments" (
	"number" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"type" text NOT NULL,
	"region" text NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"search_text" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rules" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"category" text NOT NULL,
	"severity" text NOT NULL,
	"enabled" boolean DEFAULT true NOT NULL,
	"params" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"search_text" text NOT NULL
);
--> statement-breakpoint
CREATE INDEX "codes_category_idx" ON "codes" USING btree ("category");--> statement-breakpoint
CREATE INDEX "establishments_region_idx" ON "establishments" USING btree ("region");