import { Migration } from '@mikro-orm/migrations';

export class Migration20261123005107_team_creations extends Migration {

  override name = 'Migration20261123005107_team_creations';

  override up(): void | Promise<void> {
    this.addSql(`create table "m365"."team_creation" ("idempotency_key" varchar(200) not null, "request_hash" varchar(64) not null, "display_name" varchar(256) not null, "state" varchar(20) not null, "attempt" int not null, "attempted_at" timestamptz not null, "team_id" uuid null, "operation_id" varchar(200) null, "web_url" varchar(2048) null, "error" text null, "updated_at" timestamptz not null, primary key ("idempotency_key"));`);
  }

}
