import { Migration } from '@mikro-orm/migrations';

export class Migration20261204215818_budget_send_window extends Migration {

  override name = 'Migration20261204215818_budget_send_window';

  override up(): void | Promise<void> {
    this.addSql(`alter table "m365"."budget" add "sends" jsonb not null default '[]';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "m365"."budget" drop column "sends";`);
  }

}
