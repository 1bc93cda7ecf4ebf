import { Migration } from '@mikro-orm/migrations';

export class Migration20261123022638_settings extends Migration {

  override name = 'Migration20261123022638_settings';

  override up(): void | Promise<void> {
    this.addSql(`create table "onboarding"."settings" ("tenant_id" uuid not null, "config" jsonb not null, "updated_at" timestamptz not null, "updated_by" uuid null, primary key ("tenant_id"));`);
  }

}
