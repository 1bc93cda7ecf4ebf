import { Migration } from '@mikro-orm/migrations';

export class Migration20261205061556_directory_order extends Migration {

  override name = 'Migration20261205061556_directory_order';

  // The directory index follows the order the directory is listed in (coalesce(display_name, ''), object_id): the
  // plain display_name column could not give it, so every page sorted the whole tenant (50 ms at 100,000 people)
  // while every write still paid for the index. The mail index served no query (an import reads the tenant's
  // addresses in one scan) and cost every insert and update of a person. No status in the new index: HR's listing
  // with the people who have left is read off it too. The index is built under a lock that holds writes to the
  // directory back for as long (under a second at 100,000 people).
  override up(): void | Promise<void> {
    this.addSql(`drop index "people"."employees_mail_idx";`);
    this.addSql(`drop index "people"."employees_directory_idx";`);
    this.addSql(`create index "employees_directory_idx" on "people"."employees" ("tenant_id", coalesce("display_name", ''), "object_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "people"."employees_directory_idx";`);
    this.addSql(`create index "employees_directory_idx" on "people"."employees" ("tenant_id", "status", "display_name", "object_id");`);
    this.addSql(`create index "employees_mail_idx" on "people"."employees" ("tenant_id", "mail");`);
  }

}
