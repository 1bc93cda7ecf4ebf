import { Migration } from '@mikro-orm/migrations';

export class Migration20261123023933_feed_calls extends Migration {

  override name = 'Migration20261123023933_feed_calls';

  override up(): void | Promise<void> {
    this.addSql(`alter table "notifications"."delivery" add "feed_call" varchar(200) null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "notifications"."delivery" drop column "feed_call";`);
  }

}
