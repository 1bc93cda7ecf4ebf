import { Migration } from '@mikro-orm/migrations';

export class Migration20261122215805_initial extends Migration {

  override name = 'Migration20261122215805_initial';

  override up(): void | Promise<void> {
    this.addSql(`create schema if not exists "m365";`);
    this.addSql(`create table "m365"."budget" ("tenant" varchar(64) not null, "limit_class" varchar(40) not null, "scope" varchar(64) not null, "tokens" double precision not null, "capacity" double precision not null, "refill_per_second" double precision not null, "refilled_at" timestamptz not null, "paused_until" timestamptz null, primary key ("tenant", "limit_class", "scope"));`);

    this.addSql(`create table "m365"."dead_letter" ("id" uuid not null, "consumer" varchar(200) not null, "event_id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "error" text not null, "attempts" int not null, "failed_at" timestamptz not null, primary key ("id"));`);
    this.addSql(`alter table "m365"."dead_letter" add constraint "dead_letter_consumer_event_unique" unique ("consumer", "event_id");`);

    this.addSql(`create table "m365"."inbox" ("consumer" varchar(200) not null, "event_id" uuid not null, "handled_at" timestamptz not null, primary key ("consumer", "event_id"));`);

    this.addSql(`create table "m365"."outbox" ("id" uuid not null, "event" varchar(200) not null, "payload" jsonb not null, "created_at" timestamptz not null, "published_at" timestamptz null, "claimed_until" timestamptz null, "attempts" int not null default 0, "last_error" text null, primary key ("id"));`);
    this.addSql(`create index "outbox_published_at_idx" on "m365"."outbox" ("published_at");`);
  }

}
