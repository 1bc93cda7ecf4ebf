import { Migration } from '@mikro-orm/migrations';

export class Migration20261123022238_job_leases extends Migration {

  override name = 'Migration20261123022238_job_leases';

  override up(): void | Promise<void> {
    this.addSql(`create table "pulse"."job_leases" ("name" varchar(64) not null, "claimed_by" varchar(200) null, "claimed_until" timestamptz null, "next_run_at" timestamptz not null, primary key ("name"));`);
  }

}
