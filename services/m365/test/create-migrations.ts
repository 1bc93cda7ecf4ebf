// Regenerates the m365 migration: node test/create-migrations.ts (needs the test PostgreSQL; uses a scratch database).
import { loadConfig, openDatabase } from "@hearth/platform";
import { createTestDatabase } from "@hearth/testkit";
import { database } from "../src/database.ts";

const scratch = await createTestDatabase(`m365_migrations_${Date.now()}`);
try {
  const orm = await openDatabase(loadConfig({ DATABASE_URL: scratch.url }), database);
  console.log((await orm.migrator.create(undefined, false, true, "initial")).fileName);
  await orm.close();
} finally {
  await scratch.drop();
}
