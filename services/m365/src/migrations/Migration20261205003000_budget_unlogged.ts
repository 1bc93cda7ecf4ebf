import { Migration } from '@mikro-orm/migrations';

export class Migration20261205003000_budget_unlogged extends Migration {

  override name = 'Migration20261205003000_budget_unlogged';

  // The budget rows coordinate the replicas' Graph calls from one moment to the next: a statement on them need not
  // wait for the WAL to reach the disk (it waited behind the bulk writes of notifications: 20-140 ms late sends). After
  // a crash of PostgreSQL the table is empty, and the rows are made again on first use (full buckets: Graph's 429s
  // and their pauses take over for the first seconds).
  override up(): void | Promise<void> {
    this.addSql(`alter table "m365"."budget" set unlogged;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "m365"."budget" set logged;`);
  }

}
