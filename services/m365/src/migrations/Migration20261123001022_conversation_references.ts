import { Migration } from '@mikro-orm/migrations';

export class Migration20261123001022_conversation_references extends Migration {

  override name = 'Migration20261123001022_conversation_references';

  override up(): void | Promise<void> {
    this.addSql(`create table "m365"."conversation_reference" ("user_id" uuid not null, "tenant_id" uuid not null, "conversation_id" varchar(1024) not null, "service_url" varchar(2048) not null, "bot_id" varchar(200) null, "updated_at" timestamptz not null, primary key ("user_id"));`);
  }

}
