import { Migration } from '@mikro-orm/migrations';

export class Migration20261205023001_hire_held extends Migration {

  override name = 'Migration20261205023001_hire_held';

  override up(): void | Promise<void> {
    this.addSql(`alter table "people"."employees" add "hire_held" boolean not null default false;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "people"."employees" drop column "hire_held";`);
  }

}
