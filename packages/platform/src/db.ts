import fs from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import type { EntityManager, EntitySchema } from "@mikro-orm/core";
import { Migrator } from "@mikro-orm/migrations";
import { defineConfig as definePgliteConfig, MikroORM as PgliteORM } from "@mikro-orm/pglite";
import { defineConfig as definePostgresConfig, MikroORM as PostgresORM } from "@mikro-orm/postgresql";
import { CompiledQuery, type Kysely } from "kysely";
import pg from "pg";
import postgresArray from "postgres-array";
import type { HearthConfig } from "./config.ts";

export type HearthOrm = PostgresORM | PgliteORM;

export type ServiceDatabase = {
  /** The PostgreSQL schema this service owns, e.g. "people". */
  schema: string;
  entities: EntitySchema<any, any>[];
  /** Absolute path of the service's src/migrations folder. */
  migrationsDir: string;
};

type SharedPglite = { instance: Promise<PGlite>; users: number };
const embeddedInstances = new Map<string, SharedPglite>();

/**
 * One PGlite per data folder per process: every service of the embedded suite shares it (PGlite is a
 * single session), each in its own schema. Parsers match what MikroORM's PGlite driver would set up itself.
 * Each call must be paired with releaseEmbeddedPglite; the last release closes it.
 */
export function acquireEmbeddedPglite(dir: string): Promise<PGlite> {
  let shared = embeddedInstances.get(dir);
  if (!shared) {
    if (!dir.startsWith("memory:")) fs.mkdirSync(dir, { recursive: true });
    const keepRaw = (s: string) => s;
    const parsers: Record<number, (s: string) => unknown> = {};
    for (const oid of [1082, 1114, 1184, 1186]) parsers[oid] = keepRaw;
    for (const oid of [1182, 1115, 1185, 1187]) parsers[oid] = (s) => postgresArray.parse(s);
    shared = { instance: PGlite.create({ dataDir: dir, parsers }), users: 0 };
    embeddedInstances.set(dir, shared);
  }
  shared.users++;
  return shared.instance;
}

export async function releaseEmbeddedPglite(dir: string): Promise<void> {
  const shared = embeddedInstances.get(dir);
  if (!shared || --shared.users > 0) return;
  embeddedInstances.delete(dir);
  await (await shared.instance).close();
}

function ormOptions(db: ServiceDatabase) {
  return {
    entities: db.entities,
    schema: db.schema,
    extensions: [Migrator],
    debug: false,
    allowGlobalContext: false,
    migrations: {
      path: db.migrationsDir,
      pathTs: db.migrationsDir,
      glob: "!(*.d).{js,ts}",
      emit: "ts" as const,
      tableName: "mikro_orm_migrations",
      schema: db.schema,
      snapshotName: ".snapshot",
      // Applying migrations must not rewrite the snapshot in the source tree: nodes starting together would
      // race on the file (one reads it half written and fails to start). Only `migration:create` writes it.
      snapshotOnMigrate: false,
      allOrNothing: true,
      dropTables: false,
      silent: true,
    },
  };
}

/** Opens the service's ORM on PostgreSQL (DATABASE_URL) or on the embedded PGlite, with the same migrations. */
export async function openDatabase(config: HearthConfig, db: ServiceDatabase): Promise<HearthOrm> {
  if (config.database.kind === "postgresql") {
    return PostgresORM.init(
      definePostgresConfig({
        ...ormOptions(db),
        clientUrl: config.database.url,
        pool: { min: 0, max: 8, idleTimeoutMillis: 10_000 },
      }),
    );
  }
  const pglite = await acquireEmbeddedPglite(config.database.dir);
  return PgliteORM.init(definePgliteConfig({ ...ormOptions(db), dbName: "hearth", driverOptions: { pglite } }));
}

/** Closes the ORM and, in embedded mode, lets go of the shared PGlite (closed when its last user leaves). */
export async function closeDatabase(config: HearthConfig, orm: HearthOrm): Promise<void> {
  await orm.close();
  if (config.database.kind === "embedded") await releaseEmbeddedPglite(config.database.dir);
}

/**
 * Applies pending migrations. On PostgreSQL, replicas starting together take turns through an advisory lock
 * held on a connection of its own (session locks and a pool do not mix).
 */
export async function migrate(orm: HearthOrm, schema: string, databaseUrl?: string): Promise<string[]> {
  const apply = async () => {
    // The migrations table lives in the schema, which must exist before the first migration creates it.
    await orm.em.getConnection().execute(`create schema if not exists "${schema}"`);
    const applied = await orm.migrator.up();
    return applied.map((m) => m.name);
  };
  if (!databaseUrl) return apply();
  const lock = new pg.Client({ connectionString: databaseUrl });
  await lock.connect();
  try {
    await lock.query("select pg_advisory_lock(hashtext($1))", [`hearth-migrate:${schema}`]);
    return await apply();
  } finally {
    await lock.end();
  }
}

export async function pendingMigrations(orm: HearthOrm): Promise<string[]> {
  return (await orm.migrator.getPending()).map((m) => m.name);
}

/**
 * Runs SQL with real bind parameters ($1, $2, …) in the EntityManager's transaction (or on its connection).
 * MikroORM's execute() formats parameters into the SQL text: fine for small ones, but a megabyte of JSON (a
 * directory page) then costs more to escape, send and parse as a literal than the statement costs to run.
 */
export async function executeBound<R = Record<string, unknown>>(
  em: EntityManager,
  sql: string,
  params: readonly unknown[],
): Promise<R[]> {
  const ctx =
    (em.getTransactionContext() as Kysely<unknown> | undefined) ??
    (em.getConnection() as unknown as { getClient(): Kysely<unknown> }).getClient();
  const result = await ctx.executeQuery<R>(CompiledQuery.raw(sql, [...params]));
  return result.rows;
}
