import { Migration } from '@mikro-orm/migrations';

export class Migration20261123003917_initial extends Migration {

  override name = 'Migration20261123003917_initial';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "notifications";`);
    this.addSql(`create table "notifications"."dead_letter" ("id" uuid not null, "consumer" varchar(200) not null, "event_id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "error" text not null, "attempts" int not null, "failed_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "notifications"."dead_letter" add constraint "dead_letter_consumer_event_unique" unique ("consumer", "event_id");`);

    this.addSql(`create table "notifications"."delivery" ("id" uuid not null, "request_id" uuid not null, "user_id" uuid not null, "dedupe_key" varchar(200) not null, "kind" varchar(32) null, "priority" varchar(8) not null, "status" varchar(16) not null, "reason" text null, "channels" jsonb null, "channels_done" jsonb null, "attempts" int not null default 0, "next_attempt_at" timestamptz null, "claimed_until" timestamptz null, "digest" boolean not null default false, "sent_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "delivery_due_idx" on "notifications"."delivery" ("status", "next_attempt_at");`);
    this.addSql(`create index "delivery_request_idx" on "notifications"."delivery" ("request_id");`);
    this.addSql(`create index "delivery_user_created_idx" on "notifications"."delivery" ("user_id", "created_at");`);
    this.addSql(`alter table "notifications"."delivery" add constraint "delivery_user_dedupe_unique" unique ("user_id", "dedupe_key");`);

    this.addSql(`create table "notifications"."inbox" ("consumer" varchar(200) not null, "event_id" uuid not null, "handled_at" timestamptz not null, primary key ("consumer", "event_id"));`);

    this.addSql(`create table "notifications"."request" ("id" uuid not null, "dedupe_key" varchar(200) not null, "template_id" varchar(100) not null, "data" jsonb not null, "actions" jsonb null, "priority" varchar(8) not null, "kind" varchar(32) null, "source" varchar(64) null, "recipients" int not null, "created_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "notifications"."request" add constraint "request_dedupe_key_unique" unique ("dedupe_key");`);
    this.addSql(`create index "request_created_idx" on "notifications"."request" ("created_at");`);

    this.addSql(`create table "notifications"."outbox" ("id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "created_at" timestamptz not null, "published_at" timestamptz null, "claimed_until" timestamptz null, "attempts" int not null default 0, "last_error" text null, primary key ("id"));`);
    this.addSql(`create index "outbox_published_at_idx" on "notifications"."outbox" ("published_at");`);

    this.addSql(`create table "notifications"."preference" ("user_id" uuid not null, "prefs" jsonb not null, "updated_at" timestamptz not null, primary key ("user_id"));`);

    this.addSql(`create table "notifications"."recipient" ("user_id" uuid not null, "display_name" varchar(256) null, "mail" varchar(320) null, "time_zone" varchar(64) null, "language" varchar(16) null, "left" boolean not null default false, "updated_at" timestamptz not null, primary key ("user_id"));`);
  }

}
