import { Migration } from '@mikro-orm/migrations';

export class Migration20261123010517_initial extends Migration {

  override name = 'Migration20261123010517_initial';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "onboarding";`);
    this.addSql(`create table "onboarding"."buddy_profiles" ("employee_id" uuid not null, "tenant_id" uuid not null, "opted_in" boolean not null, "interests" jsonb not null, "languages" jsonb not null, "capacity" int not null, "paused_until" varchar(10) null, "display_name" varchar(256) null, "department" varchar(200) null, "office" varchar(200) null, "time_zone" varchar(64) null, "country" varchar(2) null, "job_title" varchar(200) null, "hire_date" varchar(10) null, "leave_date" varchar(10) null, "active" boolean not null default true, "manager_chain" jsonb not null, "last_assigned_at" timestamptz null, "updated_at" timestamptz not null, primary key ("employee_id"));`);

    this.addSql(`create table "onboarding"."checkins" ("id" uuid not null, "journey_id" uuid not null, "buddy_id" uuid null, "week" int not null, "role" varchar(10) not null, "rating" int not null, "comment" text null, "submitted_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "onboarding"."checkins" add constraint "checkins_unique" unique ("journey_id", "week", "role");`);

    this.addSql(`create table "onboarding"."dead_letter" ("id" uuid not null, "consumer" varchar(200) not null, "event_id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "error" text not null, "attempts" int not null, "failed_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "onboarding"."dead_letter" add constraint "dead_letter_consumer_event_unique" unique ("consumer", "event_id");`);

    this.addSql(`create table "onboarding"."inbox" ("consumer" varchar(200) not null, "event_id" uuid not null, "handled_at" timestamptz not null, primary key ("consumer", "event_id"));`);

    this.addSql(`create table "onboarding"."journeys" ("id" uuid not null, "tenant_id" uuid not null, "new_hire_id" uuid not null, "person" jsonb null, "template_id" uuid not null, "hire_date" varchar(10) not null, "status" varchar(10) not null, "manager_id" uuid null, "manager_chain" jsonb not null, "buddy_id" uuid null, "buddy_status" varchar(10) not null default 'none', "buddy_score" double precision null, "buddy_explanation" text null, "buddy_assigned_at" timestamptz null, "declined_buddies" jsonb not null, "started_at" timestamptz not null, "completed_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "onboarding"."journeys" add constraint "journeys_new_hire_unique" unique ("new_hire_id");`);

    this.addSql(`create table "onboarding"."templates" ("id" uuid not null, "tenant_id" uuid not null, "name" varchar(200) not null, "version" int not null, "audience" jsonb not null, "priority" int not null default 0, "steps" jsonb not null, "active" boolean not null default true, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "onboarding"."templates" add constraint "templates_name_version_unique" unique ("tenant_id", "name", "version");`);

    this.addSql(`create table "onboarding"."outbox" ("id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "created_at" timestamptz not null, "published_at" timestamptz null, "claimed_until" timestamptz null, "attempts" int not null default 0, "last_error" text null, primary key ("id"));`);
    this.addSql(`create index "outbox_published_at_idx" on "onboarding"."outbox" ("published_at");`);

    this.addSql(`create table "onboarding"."tasks" ("id" uuid not null, "journey_id" uuid not null, "step_key" varchar(64) not null, "title" varchar(500) not null, "content" text not null, "link" varchar(2000) null, "owner" varchar(10) not null, "owner_id" uuid null, "offset_days" int not null, "unit" varchar(10) not null, "owner_time_zone" varchar(64) null, "owner_country" varchar(2) null, "due_date" varchar(10) not null, "due_at" timestamptz not null, "status" varchar(10) not null, "requires_confirmation" boolean not null, "completed_at" timestamptz null, "completed_by" uuid null, "nudges" jsonb not null, primary key ("id"));`);
    this.addSql(`create index "tasks_journey_idx" on "onboarding"."tasks" ("journey_id");`);
    this.addSql(`create index "tasks_owner_idx" on "onboarding"."tasks" ("owner_id", "status");`);
    this.addSql(`create index "tasks_due_idx" on "onboarding"."tasks" ("status", "due_at");`);
  }

}
