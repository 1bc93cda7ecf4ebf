import { Migration } from '@mikro-orm/migrations';

export class Migration20261205024739_natural_key extends Migration {

  override name = 'Migration20261205024739_natural_key';

  // A person is their tenant and Entra object id: the surrogate id (a random uuid, one more index written per
  // person) goes, and the unique pair becomes the primary key.
  override up(): void | Promise<void> {
    this.addSql(`alter table "people"."employees" drop constraint "employees_tenant_object_unique";`);
    this.addSql(`alter table "people"."employees" drop constraint "employees_pkey";`);
    this.addSql(`alter table "people"."employees" drop column "id";`);
    this.addSql(`alter table "people"."employees" add primary key ("tenant_id", "object_id");`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "people"."employees" drop constraint "employees_pkey";`);
    // Existing people get a new random id (nothing referred to the old ones).
    this.addSql(`alter table "people"."employees" add "id" uuid not null default gen_random_uuid();`);
    this.addSql(`alter table "people"."employees" alter column "id" drop default;`);
    this.addSql(`alter table "people"."employees" add constraint "employees_tenant_object_unique" unique ("tenant_id", "object_id");`);
    this.addSql(`alter table "people"."employees" add primary key ("id");`);
  }

}
