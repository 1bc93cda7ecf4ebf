import { Migration } from '@mikro-orm/migrations';

export class Migration20261123021901_invitations_hot extends Migration {

  override name = 'Migration20261123021901_invitations_hot';

  override up(): void | Promise<void> {
    this.addSql(`drop index "pulse"."invitations_wave_answered_idx";`);
    // Room on each page for the answered flag's new row version: a HOT update, no index entry (see the entity).
    this.addSql(`alter table "pulse"."invitations" set (fillfactor = 80);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "pulse"."invitations" reset (fillfactor);`);
    this.addSql(`create index "invitations_wave_answered_idx" on "pulse"."invitations" ("wave_id", "answered");`);
  }

}
