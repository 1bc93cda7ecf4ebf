import { Migration } from '@mikro-orm/migrations';

export class Migration20261123065619_outbox_unpublished_index extends Migration {

  override name = 'Migration20261123065619_outbox_unpublished_index';

  override up(): void | Promise<void> {
    this.addSql(`create index "outbox_unpublished_idx" on "notifications"."outbox" ("created_at") where published_at is null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "notifications"."outbox_unpublished_idx";`);
  }

}
