import { Migration } from '@mikro-orm/migrations';

export class Migration20261123023930_feed_sends extends Migration {

  override name = 'Migration20261123023930_feed_sends';

  override up(): void | Promise<void> {
    this.addSql(`create table "m365"."feed_send_chunk" ("idempotency_key" varchar(200) not null, "chunk" int not null, "recipient_ids" jsonb not null, "state" varchar(12) not null, "error" text null, "owner" uuid null, "claimed_until" timestamptz null, "updated_at" timestamptz not null, primary key ("idempotency_key", "chunk"));`);
    this.addSql(`create index "feed_send_chunk_updated_idx" on "m365"."feed_send_chunk" ("updated_at");`);

    this.addSql(`create table "m365"."teams_app_installation" ("user_id" uuid not null, "source" varchar(12) not null, "confirmed_at" timestamptz not null, primary key ("user_id"));`);
  }

}
