import { Migration } from '@mikro-orm/migrations';

export class Migration20261122215841_initial extends Migration {

  override name = 'Migration20261122215841_initial';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "people";`);
    this.addSql(`create table "people"."dead_letter" ("id" uuid not null, "consumer" varchar(200) not null, "event_id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "error" text not null, "attempts" int not null, "failed_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "people"."dead_letter" add constraint "dead_letter_consumer_event_unique" unique ("consumer", "event_id");`);

    this.addSql(`create table "people"."employees" ("id" uuid not null, "tenant_id" uuid not null, "object_id" uuid not null, "display_name" varchar(256) null, "given_name" varchar(128) null, "surname" varchar(128) null, "mail" varchar(320) null, "upn" varchar(320) null, "department" varchar(200) null, "job_title" varchar(200) null, "office" varchar(200) null, "country" varchar(2) null, "time_zone" varchar(64) null, "preferred_language" varchar(16) null, "manager_id" uuid null, "hire_date" varchar(10) null, "leave_date" varchar(10) null, "enabled" boolean not null, "status" varchar(8) not null, "source" varchar(8) not null, "hired_announced" boolean not null default false, "last_seen_run" uuid null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "employees_directory_idx" on "people"."employees" ("tenant_id", "status", "display_name", "object_id");`);
    this.addSql(`create index "employees_manager_idx" on "people"."employees" ("tenant_id", "manager_id");`);
    this.addSql(`create index "employees_mail_idx" on "people"."employees" ("tenant_id", "mail");`);
    this.addSql(`alter table "people"."employees" add constraint "employees_tenant_object_unique" unique ("tenant_id", "object_id");`);

    this.addSql(`create table "people"."inbox" ("consumer" varchar(200) not null, "event_id" uuid not null, "handled_at" timestamptz not null, primary key ("consumer", "event_id"));`);

    this.addSql(`create table "people"."outbox" ("id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "created_at" timestamptz not null, "published_at" timestamptz null, "claimed_until" timestamptz null, "attempts" int not null default 0, "last_error" text null, primary key ("id"));`);
    this.addSql(`create index "outbox_published_at_idx" on "people"."outbox" ("published_at");`);

    this.addSql(`create table "people"."sync_run" ("id" uuid not null, "tenant_id" uuid not null, "kind" varchar(16) not null, "trigger" varchar(16) not null, "status" varchar(16) not null, "next_link" text null, "started_at" timestamptz not null, "finished_at" timestamptz null, "pages" int not null default 0, "seen" int not null default 0, "created" int not null default 0, "updated" int not null default 0, "left" int not null default 0, "error" text null, primary key ("id"));`);
    this.addSql(`create index "sync_run_tenant_started_idx" on "people"."sync_run" ("tenant_id", "started_at");`);

    this.addSql(`create table "people"."sync_state" ("tenant_id" uuid not null, "delta_link" text null, "next_sync_at" timestamptz not null, "claimed_by" varchar(200) null, "claimed_until" timestamptz null, primary key ("tenant_id"));`);
  }

}
