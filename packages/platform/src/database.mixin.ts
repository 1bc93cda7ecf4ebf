import type { EventContract } from "@hearth/contracts";
import type { EntityManager } from "@mikro-orm/core";
import type moleculer from "moleculer";
import { z } from "zod";
import { closeDatabase, type HearthOrm, migrate, openDatabase, pendingMigrations, type ServiceDatabase } from "./db.ts";
import {
  acquireTransport,
  type DomainEvent,
  type DomainEventHandlers,
  type EventTransport,
  handleOnce,
  OutboxRelay,
  recordEvent,
  recordEvents,
  releaseTransport,
} from "./events.ts";
import { createMessagingEntities, type MessagingEntities } from "./messaging-entities.ts";
import { configOf } from "./runtime.ts";

const ZRetryDeadLetters = z.object({ ids: z.array(z.guid()).max(1000).optional() });

export type ServiceDatabaseWithMessaging = ServiceDatabase & { messaging: MessagingEntities };

/**
 * A service's database: its schema, its own entities and migrations folder, plus the outbox, inbox and dead-letter
 * tables every service needs for durable events (created by the same migrations).
 */
export function defineServiceDatabase(database: ServiceDatabase): ServiceDatabaseWithMessaging {
  const messaging = createMessagingEntities();
  return {
    ...database,
    entities: [...database.entities, messaging.OutboxMessage, messaging.InboxMessage, messaging.DeadLetter],
    messaging,
  };
}

export type DatabaseMethods = {
  /** A fresh EntityManager for one unit of work (never the global one). */
  em(): EntityManager;
  /**
   * Runs `work` in one transaction and commits when it resolves; events recorded with `recordEvent` go out
   * after the commit. Keep remote calls out of it.
   */
  transaction<T>(work: (em: EntityManager) => Promise<T>): Promise<T>;
  /** Adds a domain event to this transaction's outbox. */
  recordEvent<C extends EventContract>(em: EntityManager, contract: C, payload: z.input<C["payload"]>): string;
  /** Adds many domain events to this transaction's outbox in one statement, in order. */
  recordEvents(
    em: EntityManager,
    events: ReadonlyArray<{ contract: EventContract; payload: unknown }>,
  ): Promise<string[]>;
};

export type DatabaseThis = moleculer.Service &
  DatabaseMethods & {
    orm: HearthOrm;
    database: ServiceDatabaseWithMessaging;
    eventTransport: EventTransport;
    outboxRelay: OutboxRelay;
  };

/**
 * Gives a service its own schema and durable domain events:
 * - the ORM is opened and this service's migrations applied when it starts;
 * - `domainEvents: { "employee.hired": handler }` in the schema subscribes durably (one JetStream consumer
 *   per service and event, inbox-deduplicated, retried, dead-lettered);
 * - events recorded in a transaction are relayed from the outbox after commit.
 */
export function databaseMixin(database: ServiceDatabaseWithMessaging): Partial<moleculer.ServiceSchema> {
  return {
    actions: {
      /** For the gateway's /api/ready: the database answers and every migration is applied. */
      readiness: {
        visibility: "public",
        access: "internal",
        async handler(this: DatabaseThis) {
          await this.orm.em.fork().getConnection().execute("select 1");
          return { schema: database.schema, pendingMigrations: await pendingMigrations(this.orm) };
        },
      } as unknown as moleculer.ActionSchema,
      /** Events this service failed to handle, newest first (payloads stay in the table). */
      deadLetters: {
        visibility: "public",
        access: "internal",
        async handler(this: DatabaseThis) {
          return this.em()
            .getConnection()
            .execute(
              `select id, consumer, event_id as "eventId", event, error, attempts, failed_at as "failedAt"
               from "${database.schema}".dead_letter order by failed_at desc limit 1000`,
            );
        },
      } as unknown as moleculer.ActionSchema,
      /**
       * Runs dead-lettered events through the current handler again (after a fix): each that succeeds is handled
       * once in effect (the inbox still applies) and leaves the dead-letter store; each that fails stays, with the
       * new error.
       */
      retryDeadLetters: {
        visibility: "public",
        access: "internal",
        zodParams: () => ZRetryDeadLetters,
        async handler(this: DatabaseThis, ctx: moleculer.Context<z.infer<typeof ZRetryDeadLetters>>) {
          return retryDeadLetters(this, ctx.params.ids);
        },
      } as unknown as moleculer.ActionSchema,
    },
    methods: {
      em(this: DatabaseThis) {
        return this.orm.em.fork();
      },
      async transaction<T>(this: DatabaseThis, work: (em: EntityManager) => Promise<T>) {
        const result = await this.orm.em.fork().transactional(work);
        this.outboxRelay?.wake();
        return result;
      },
      recordEvent(this: DatabaseThis, em: EntityManager, contract: EventContract, payload: unknown) {
        return recordEvent(em, this, contract, payload as never);
      },
      recordEvents(
        this: DatabaseThis,
        em: EntityManager,
        events: ReadonlyArray<{ contract: EventContract; payload: unknown }>,
      ) {
        return recordEvents(em, this, events);
      },
    },
    created(this: moleculer.Service) {
      (this as DatabaseThis).database = database;
    },
    started(this: moleculer.Service) {
      return startDatabase(this as DatabaseThis);
    },
    stopped(this: moleculer.Service) {
      return stopDatabase(this as DatabaseThis);
    },
  };
}

async function startDatabase(service: DatabaseThis) {
  const { database } = service;
  const config = configOf(service.broker);
  service.orm = await openDatabase(config, database);
  const applied = await migrate(
    service.orm,
    database.schema,
    config.database.kind === "postgresql" ? config.database.url : undefined,
  );
  if (applied.length > 0) service.logger.info("Migrations applied", { schema: database.schema, applied });

  service.eventTransport = await acquireTransport(service.broker);
  const handlers = (service.schema as { domainEvents?: DomainEventHandlers }).domainEvents ?? {};
  for (const [eventName, handler] of Object.entries(handlers)) {
    await service.eventTransport.subscribe({ consumer: service.name, eventName, service, handler });
  }
  await seedDemoData(
    service,
    config.seedDemo === "always" || (config.seedDemo === "on" && config.database.kind === "embedded"),
  );
  service.outboxRelay = new OutboxRelay({
    orm: service.orm,
    schema: database.schema,
    transport: service.eventTransport,
    config,
    logger: service.logger,
    source: service.name,
    // In one process, deliver nothing until every service has subscribed.
    isReady: () => !service.eventTransport.singleProcess || service.broker.started,
  });
  await service.outboxRelay.start();
}

/**
 * A service may define `seedDemo(em)` in its schema: demo data for `npm start`, run in one transaction at start
 * in embedded mode (SEED_DEMO=on) and by `npm run hearth -- seed`. It must seed only what is missing, so running
 * it on every start changes nothing after the first.
 */
export async function seedDemoData(service: DatabaseThis, enabled: boolean): Promise<void> {
  const seed = (service.schema as { seedDemo?: (this: DatabaseThis, em: EntityManager) => Promise<number | undefined> })
    .seedDemo;
  if (!enabled || !seed) return;
  const created = await service.transaction((em) => seed.call(service, em));
  if (created) service.logger.info("Demo data seeded", { schema: service.database.schema, created });
}

type DeadLetterRow = { id: string; consumer: string; payload: DomainEvent | string };

async function retryDeadLetters(service: DatabaseThis, ids?: string[]) {
  const schema = service.database.schema;
  const handlers = (service.schema as { domainEvents?: DomainEventHandlers }).domainEvents ?? {};
  const connection = service.em().getConnection();
  const rows = (await connection.execute(
    `select id, consumer, payload from "${schema}".dead_letter
     ${ids ? `where id in (${ids.map(() => "?").join(", ") || "null"})` : ""} order by failed_at`,
    ids ?? [],
  )) as DeadLetterRow[];
  const result = { retried: rows.length, succeeded: 0, failed: [] as Array<{ id: string; error: string }> };
  for (const row of rows) {
    const event = (typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload) as DomainEvent;
    const handler = handlers[event.name];
    try {
      if (!handler) throw new Error(`${service.name} no longer handles ${event.name}`);
      await handleOnce({ consumer: row.consumer, eventName: event.name, service, handler }, event);
      await connection.execute(`delete from "${schema}".dead_letter where id = ?`, [row.id]);
      result.succeeded++;
    } catch (error) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      await connection.execute(
        `update "${schema}".dead_letter set error = ?, attempts = attempts + 1, failed_at = now() where id = ?`,
        [message, row.id],
      );
      result.failed.push({ id: row.id, error: message });
    }
  }
  if (rows.length > 0) service.logger.info("Dead letters retried", { ...result, failed: result.failed.length });
  return result;
}

async function stopDatabase(service: DatabaseThis) {
  await service.outboxRelay?.stop();
  if (service.eventTransport) await releaseTransport(service.broker, service.eventTransport, service.name);
  if (service.orm) await closeDatabase(configOf(service.broker), service.orm);
}
