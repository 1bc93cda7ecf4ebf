import { Migration } from '@mikro-orm/migrations';

export class Migration20261205023001_hire_held extends Migration {

  override name = 'Migration20261205023001_hire_held';

  // A held employee.hired kept as a mark on the row instead of a copy of it in held_events (see MailboxMarks).
  override up(): void | Promise<void> {
    this.addSql(`alter table "people"."employees" add "hire_held" boolean not null default false;`);
  }

  override down(): void | Promise<void> {
    // Held hires go back into held_events, first, as the event the domain builds (hiredEvent): none is lost.
    this.addSql(`update "people"."employees" set held_events = jsonb_build_array(jsonb_build_object('name', 'employee.hired', 'payload', jsonb_build_object('tenantId', tenant_id, 'objectId', object_id, 'displayName', display_name, 'mail', mail, 'department', department, 'jobTitle', job_title, 'managerId', manager_id, 'country', country, 'timeZone', time_zone, 'preferredLanguage', preferred_language, 'hireDate', hire_date, 'source', source))) || coalesce(held_events, '[]'::jsonb), hire_held = false where hire_held;`);
    this.addSql(`alter table "people"."employees" drop column "hire_held";`);
  }

}
