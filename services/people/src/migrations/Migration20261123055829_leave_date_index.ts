import { Migration } from '@mikro-orm/migrations';

export class Migration20261123055829_leave_date_index extends Migration {

  override name = 'Migration20261123055829_leave_date_index';

  override up(): void | Promise<void> {
    this.addSql(`create index "employees_leave_date_idx" on "people"."employees" ("tenant_id", "leave_date") where "status" = 'active' and "leave_date" is not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "people"."employees_leave_date_idx";`);
  }

}
