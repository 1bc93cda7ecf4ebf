import { Migration } from '@mikro-orm/migrations';

export class Migration20261123004507_initial extends Migration {

  override name = 'Migration20261123004507_initial';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "pulse";`);
    this.addSql(`create table "pulse"."answers" ("id" uuid not null, "wave_id" uuid not null, "question_id" uuid not null, "day" varchar(10) not null, "department" varchar(200) not null, "office" varchar(200) not null, "tenure_band" varchar(16) not null, "manager_path" jsonb not null, "value" int null, "comment" text null, primary key ("id"));`);
    this.addSql(`create index "answers_wave_question_idx" on "pulse"."answers" ("wave_id", "question_id");`);

    this.addSql(`create table "pulse"."answer_buffer" ("id" uuid not null, "submission" uuid not null, "wave_id" uuid not null, "question_id" uuid not null, "day" varchar(10) not null, "department" varchar(200) not null, "office" varchar(200) not null, "tenure_band" varchar(16) not null, "manager_path" jsonb not null, "value" int null, "comment" text null, primary key ("id"));`);
    this.addSql(`create index "answer_buffer_wave_idx" on "pulse"."answer_buffer" ("wave_id");`);

    this.addSql(`create table "pulse"."dead_letter" ("id" uuid not null, "consumer" varchar(200) not null, "event_id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "error" text not null, "attempts" int not null, "failed_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "pulse"."dead_letter" add constraint "dead_letter_consumer_event_unique" unique ("consumer", "event_id");`);

    this.addSql(`create table "pulse"."inbox" ("consumer" varchar(200) not null, "event_id" uuid not null, "handled_at" timestamptz not null, primary key ("consumer", "event_id"));`);

    this.addSql(`create table "pulse"."invitations" ("id" uuid not null, "wave_id" uuid not null, "user_id" uuid not null, "department" varchar(200) not null, "office" varchar(200) not null, "tenure_band" varchar(16) not null, "manager_path" jsonb not null, "time_zone" varchar(64) not null, "answered" boolean not null default false, "opens_at" timestamptz not null, "closes_at" timestamptz not null, "invited_at" timestamptz null, "reminded_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "invitations_wave_answered_idx" on "pulse"."invitations" ("wave_id", "answered");`);
    this.addSql(`create index "invitations_due_idx" on "pulse"."invitations" ("invited_at", "opens_at");`);
    this.addSql(`alter table "pulse"."invitations" add constraint "invitations_wave_user_unique" unique ("wave_id", "user_id");`);

    this.addSql(`create table "pulse"."outbox" ("id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "created_at" timestamptz not null, "published_at" timestamptz null, "claimed_until" timestamptz null, "attempts" int not null default 0, "last_error" text null, primary key ("id"));`);
    this.addSql(`create index "outbox_published_at_idx" on "pulse"."outbox" ("published_at");`);

    this.addSql(`create table "pulse"."programmes" ("id" uuid not null, "tenant_id" uuid not null, "name" varchar(200) not null, "cadence" varchar(16) not null, "audience_kind" varchar(16) not null, "audience_values" jsonb not null, "questions_per_wave" int not null, "min_group_size" int not null, "comment_minimum" int not null, "manager_results" boolean not null default false, "local_open_time" varchar(5) not null default '10:00', "created_at" timestamptz not null, primary key ("id"));`);

    this.addSql(`create table "pulse"."questions" ("id" uuid not null, "tenant_id" uuid not null, "programme_id" uuid null, "kind" varchar(8) not null, "text" varchar(500) not null, "driver" varchar(64) null, "min" int not null, "max" int not null, "definition" text null, "position" int not null, primary key ("id"));`);
    this.addSql(`create index "questions_programme_idx" on "pulse"."questions" ("programme_id", "position");`);

    this.addSql(`create table "pulse"."results_views" ("id" uuid not null, "viewer_id" uuid null, "roles" jsonb not null, "wave_id" uuid null, "programme_id" uuid null, "view" varchar(16) not null, "filter" jsonb not null, "viewed_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`create index "results_views_wave_idx" on "pulse"."results_views" ("wave_id", "viewed_at");`);

    this.addSql(`create table "pulse"."waves" ("id" uuid not null, "tenant_id" uuid not null, "programme_id" uuid not null, "number" int not null, "status" varchar(10) not null, "opens_on" varchar(10) not null, "closes_on" varchar(10) not null, "question_ids" jsonb not null, "invited" int not null default 0, "opened_at" timestamptz null, "closed_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "pulse"."waves" add constraint "waves_programme_number_unique" unique ("programme_id", "number");`);

    this.addSql(`create table "pulse"."wave_actions" ("id" uuid not null, "wave_id" uuid not null, "title" varchar(200) not null, "description" text not null, "created_by" uuid null, "created_at" timestamptz not null, primary key ("id"));`);
  }

}
