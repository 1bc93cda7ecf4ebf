import { Migration } from '@mikro-orm/migrations';

export class Migration20261123005721_new_hires extends Migration {

  override name = 'Migration20261123005721_new_hires';

  override up(): void | Promise<void> {
    this.addSql(`create table "pulse"."new_hires" ("user_id" uuid not null, "hire_date" varchar(10) not null, "recorded_at" timestamptz not null, primary key ("user_id"));`);
    this.addSql(`create index "new_hires_hire_date_idx" on "pulse"."new_hires" ("hire_date");`);
  }

}
