import { Migration } from '@mikro-orm/migrations';

export class Migration20261123022715_mailbox_settings extends Migration {

  override name = 'Migration20261123022715_mailbox_settings';

  override up(): void | Promise<void> {
    this.addSql(`alter table "people"."employees" add "language_from_mailbox" boolean not null default false, add "mailbox_due" boolean not null default false, add "mailbox_first" boolean not null default false, add "mailbox_version" int not null default 0, add "mailbox_claimed_until" timestamptz null, add "held_events" jsonb null;`);
    this.addSql(`create index "employees_mailbox_due_idx" on "people"."employees" ("tenant_id") where "mailbox_due";`);

    this.addSql(`alter table "people"."sync_state" add "mailbox_error" text null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "people"."employees_mailbox_due_idx";`);
    this.addSql(`alter table "people"."employees" drop column "language_from_mailbox", drop column "mailbox_due", drop column "mailbox_first", drop column "mailbox_version", drop column "mailbox_claimed_until", drop column "held_events";`);

    this.addSql(`alter table "people"."sync_state" drop column "mailbox_error";`);
  }

}
