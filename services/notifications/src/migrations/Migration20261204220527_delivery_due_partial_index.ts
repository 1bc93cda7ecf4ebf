import { Migration } from '@mikro-orm/migrations';

export class Migration20261204220527_delivery_due_partial_index extends Migration {

  override name = 'Migration20261204220527_delivery_due_partial_index';

  override up(): void | Promise<void> {
    this.addSql(`drop index "notifications"."delivery_due_idx";`);
    this.addSql(`create index "delivery_due_at_idx" on "notifications"."delivery" ("next_attempt_at") where status in ('queued', 'deferred', 'failed');`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "notifications"."delivery_due_at_idx";`);
    this.addSql(`create index "delivery_due_idx" on "notifications"."delivery" ("status", "next_attempt_at");`);
  }

}
