import type { EventContract } from "@hearth/contracts";
import type { EntityManager } from "@mikro-orm/core";
import type moleculer from "moleculer";
import {
  AckPolicy,
  type Consumer,
  connect,
  DeliverPolicy,
  JSONCodec,
  type JsMsg,
  type NatsConnection,
  RetentionPolicy,
  StorageType,
} from "nats";
import type { z } from "zod";
import type { HearthConfig } from "./config.ts";
import type { DatabaseThis } from "./database.mixin.ts";
import { executeBound, type HearthOrm } from "./db.ts";
import { failpoint } from "./failpoints.ts";
import { configOf } from "./runtime.ts";

/** What travels from a producer's outbox to every consumer, over JetStream or the in-process bus. */
export type DomainEvent<P = Record<string, unknown>> = {
  id: string;
  name: string;
  payload: P;
  occurredAt: string;
  /** The service whose outbox it came from. */
  source: string;
};

export type DomainEventHandler<This = any> = (this: This, event: DomainEvent<any>, em: EntityManager) => Promise<void>;

/** `domainEvents` in a service schema: event name → handler, run once per event in effect. */
export type DomainEventHandlers = Record<string, DomainEventHandler>;

const codec = JSONCodec<DomainEvent>();
/** How long JetStream keeps domain events (a consumer that was down this long still catches up). */
const STREAM_RETENTION_DAYS = 14;
/** Inbox rows outlive the stream's retention, so no redelivery can ever find its inbox row gone. */
const INBOX_RETENTION_DAYS = STREAM_RETENTION_DAYS + 1;
/** Published outbox rows are kept a while for operators to look at, then removed. */
const OUTBOX_RETENTION_DAYS = 7;
const SWEEP_INTERVAL_MS = 60 * 60_000;
const SWEEP_BATCH = 5000;
/** Events of one (service, event) consumer handled at once per process. */
const HANDLER_CONCURRENCY = 16;
const NANOS_PER_MS = 1_000_000;

export function subjectFor(config: HearthConfig, eventName: string): string {
  return `${config.events.subjectPrefix}.${eventName}`;
}

/** JetStream durable names may not contain dots. */
export function durableName(consumer: string, eventName: string): string {
  return `${consumer}--${eventName.replaceAll(".", "_")}`;
}

export function retryDelayMs(config: HearthConfig, attempt: number): number {
  return Math.min(config.events.retryBaseMs * 2 ** Math.max(0, attempt - 1), 60_000);
}

/**
 * Records a domain event in the service's outbox inside the caller's transaction: it commits with the state
 * change or not at all. The payload is checked against its contract here, so nothing malformed is published.
 */
export function recordEvent<C extends EventContract>(
  em: EntityManager,
  service: DatabaseThis,
  contract: C,
  payload: z.input<C["payload"]>,
): string {
  const parsed = contract.payload.parse(payload) as Record<string, unknown>;
  const id = crypto.randomUUID();
  em.create(service.database.messaging.OutboxMessage, { id, event: contract.name, payload: parsed } as never);
  return id;
}

/**
 * Records many domain events at once in the caller's transaction, in their order: the same rules as recordEvent,
 * but one statement (a directory page's hires) instead of one entity per event for the unit of work to flush.
 */
export async function recordEvents(
  em: EntityManager,
  service: DatabaseThis,
  events: ReadonlyArray<{ contract: EventContract; payload: unknown }>,
): Promise<string[]> {
  if (events.length === 0) return [];
  const rows = events.map(({ contract, payload }, n) => ({
    id: crypto.randomUUID(),
    event: contract.name,
    payload: contract.payload.parse(payload),
    n,
  }));
  // created_at orders the relay: one microsecond apart keeps these in the order given.
  await executeBound(
    em,
    `insert into "${service.database.schema}".outbox (id, event, payload, created_at, attempts)
     select r.id, r.event, r.payload, $1::timestamptz + (r.n * interval '1 microsecond'), 0
     from jsonb_to_recordset($2::jsonb) as r(id uuid, event text, payload jsonb, n int)`,
    [new Date().toISOString(), JSON.stringify(rows)],
  );
  return rows.map((r) => r.id);
}

// ---------------------------------------------------------------------------------------------------------------
// Consuming: one transaction holds the inbox row and the handler's effect, so a redelivery does nothing twice.

export type ConsumerBinding = {
  consumer: string;
  eventName: string;
  service: DatabaseThis;
  handler: DomainEventHandler;
};

/** Runs the handler once in effect: returns false when this consumer had already handled the event. */
export async function handleOnce(binding: ConsumerBinding, event: DomainEvent): Promise<boolean> {
  const { service, consumer, handler } = binding;
  const schema = service.database.schema;
  return service.orm.em.fork().transactional(async (em) => {
    const inserted = await (em as any).execute(
      `insert into "${schema}".inbox (consumer, event_id, handled_at) values (?, ?, now()) on conflict do nothing returning event_id`,
      [consumer, event.id],
    );
    if (inserted.length === 0) return false;
    await handler.call(service, event, em);
    return true;
  });
}

export async function writeDeadLetter(binding: ConsumerBinding, event: DomainEvent, error: unknown, attempts: number) {
  const schema = binding.service.database.schema;
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  await (binding.service.orm.em.fork() as any).execute(
    `insert into "${schema}".dead_letter (id, consumer, event_id, event, payload, error, attempts, failed_at)
     values (?, ?, ?, ?, ?, ?, ?, now()) on conflict (consumer, event_id) do update set error = excluded.error, attempts = excluded.attempts, failed_at = now()`,
    [crypto.randomUUID(), binding.consumer, event.id, event.name, JSON.stringify(event), message, attempts],
  );
  binding.service.logger.error("Domain event moved to the dead-letter store", {
    consumer: binding.consumer,
    event: event.name,
    eventId: event.id,
    attempts,
    error: message,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Transport: JetStream when NATS is configured, otherwise an in-process bus with the same guarantees.

export interface EventTransport {
  /** Resolves once the event is durably accepted (JetStream PubAck) or fully delivered (in process). */
  publish(event: DomainEvent): Promise<void>;
  subscribe(binding: ConsumerBinding): Promise<void>;
  /** Stops one consumer's subscriptions (a service stopping); the others keep flowing. */
  unsubscribe(consumer: string): Promise<void>;
  /** Claims expire by lease in a cluster; in one process the relay may take stale claims back at once. */
  readonly singleProcess: boolean;
  close(): Promise<void>;
}

class LocalEventBus implements EventTransport {
  readonly singleProcess = true;
  readonly #bindings = new Map<string, ConsumerBinding[]>();
  readonly #config: HearthConfig;
  #closed = false;

  constructor(config: HearthConfig) {
    this.#config = config;
  }

  async subscribe(binding: ConsumerBinding) {
    const list = this.#bindings.get(binding.eventName) ?? [];
    list.push(binding);
    this.#bindings.set(binding.eventName, list);
  }

  async unsubscribe(consumer: string) {
    for (const [eventName, list] of this.#bindings) {
      this.#bindings.set(
        eventName,
        list.filter((b) => b.consumer !== consumer),
      );
    }
  }

  async publish(event: DomainEvent) {
    const bindings = this.#bindings.get(event.name) ?? [];
    await Promise.all(bindings.map((b) => this.#deliver(b, event)));
  }

  async #deliver(binding: ConsumerBinding, event: DomainEvent) {
    const max = this.#config.events.maxAttempts;
    for (let attempt = 1; attempt <= max && !this.#closed; attempt++) {
      try {
        await handleOnce(binding, event);
        return;
      } catch (error) {
        if (attempt === max) return writeDeadLetter(binding, event, error, attempt);
        binding.service.logger.warn("Domain event handler failed; will retry", {
          consumer: binding.consumer,
          event: event.name,
          attempt,
          error: (error as Error).message,
        });
        await new Promise((r) => setTimeout(r, retryDelayMs(this.#config, attempt)));
      }
    }
    // Closed mid-retry: the outbox row stays unpublished and is delivered again after restart.
    throw new Error("event bus closed before delivery finished");
  }

  async close() {
    this.#closed = true;
  }
}

class JetStreamTransport implements EventTransport {
  readonly singleProcess = false;
  readonly #config: HearthConfig;
  readonly #nc: NatsConnection;
  readonly #consumers: Array<{ consumer: string; stop(): void; done: Promise<void> }> = [];
  #streamReady: Promise<void> | undefined;

  constructor(config: HearthConfig, nc: NatsConnection) {
    this.#config = config;
    this.#nc = nc;
  }

  ensureStream(): Promise<void> {
    this.#streamReady ??= (async () => {
      const jsm = await this.#nc.jetstreamManager();
      const { stream, subjectPrefix } = this.#config.events;
      try {
        await jsm.streams.info(stream);
      } catch {
        await jsm.streams.add({
          name: stream,
          subjects: [`${subjectPrefix}.>`],
          retention: RetentionPolicy.Limits,
          storage: StorageType.File,
          max_age: STREAM_RETENTION_DAYS * 24 * 3600 * 1000 * NANOS_PER_MS,
          duplicate_window: 2 * 60 * 1000 * NANOS_PER_MS,
        });
      }
    })().catch((error) => {
      this.#streamReady = undefined;
      throw error;
    });
    return this.#streamReady;
  }

  async publish(event: DomainEvent) {
    await this.ensureStream();
    const ack = await this.#nc.jetstream().publish(subjectFor(this.#config, event.name), codec.encode(event), {
      msgID: event.id,
      expect: { streamName: this.#config.events.stream },
    });
    if (!(ack.seq > 0)) throw new Error(`JetStream did not acknowledge event ${event.id}`);
  }

  async subscribe(binding: ConsumerBinding) {
    await this.ensureStream();
    const jsm = await this.#nc.jetstreamManager();
    const { stream, maxAttempts } = this.#config.events;
    const name = durableName(binding.consumer, binding.eventName);
    await jsm.consumers.add(stream, {
      durable_name: name,
      filter_subject: subjectFor(this.#config, binding.eventName),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: this.#config.events.ackWaitMs * NANOS_PER_MS,
      // One more than ours, so our own dead-lettering always runs before the server gives up.
      max_deliver: maxAttempts + 1,
      max_ack_pending: 256,
    });
    const consumer = await this.#nc.jetstream().consumers.get(stream, name);
    this.#consumers.push({ consumer: binding.consumer, ...this.#consume(binding, consumer) });
  }

  #consume(binding: ConsumerBinding, consumer: Consumer) {
    let stopped = false;
    let messages: Awaited<ReturnType<Consumer["consume"]>> | undefined;
    const inFlight = new Set<Promise<void>>();
    const done = (async () => {
      while (!stopped) {
        try {
          // Pull no more than can be worked on, so nothing waits in a buffer while its ack deadline runs.
          messages = await consumer.consume({ max_messages: HANDLER_CONCURRENCY });
          for await (const m of messages) {
            const work = this.#handleMessage(binding, m).finally(() => inFlight.delete(work));
            inFlight.add(work);
            if (inFlight.size >= HANDLER_CONCURRENCY) await Promise.race(inFlight);
          }
        } catch (error) {
          if (stopped) break;
          binding.service.logger.warn("JetStream consumer interrupted; reconnecting", {
            error: (error as Error).message,
          });
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      await Promise.allSettled(inFlight);
    })();
    return {
      stop() {
        stopped = true;
        messages?.stop();
      },
      done,
    };
  }

  async #handleMessage(binding: ConsumerBinding, m: JsMsg) {
    let event: DomainEvent;
    try {
      event = codec.decode(m.data);
    } catch (error) {
      binding.service.logger.error("Undecodable message terminated", { subject: m.subject, error: String(error) });
      // No reason: "+TERM <reason>" needs nats-server 2.10.4+, older servers ignore it and redeliver.
      settle(() => m.term());
      return;
    }
    const attempt = m.info.deliveryCount;
    // A slow handler tells JetStream it is still working, so the event is not redelivered meanwhile.
    const heartbeat = setInterval(() => settle(() => m.working()), Math.max(500, this.#config.events.ackWaitMs / 3));
    try {
      await handleOnce(binding, event);
    } catch (error) {
      if (attempt >= this.#config.events.maxAttempts) {
        try {
          await writeDeadLetter(binding, event, error, attempt);
          settle(() => m.term());
        } catch (dlqError) {
          // The dead-letter store is unreachable: let JetStream redeliver rather than drop the event.
          binding.service.logger.error("Could not dead-letter event", { eventId: event.id, error: String(dlqError) });
          settle(() => m.nak(retryDelayMs(this.#config, attempt)));
        }
        return;
      }
      binding.service.logger.warn("Domain event handler failed; will retry", {
        consumer: binding.consumer,
        event: event.name,
        eventId: event.id,
        attempt,
        error: (error as Error).message,
      });
      settle(() => m.nak(retryDelayMs(this.#config, attempt)));
      return;
    } finally {
      clearInterval(heartbeat);
    }
    failpoint("consumer.after-commit");
    try {
      await m.ackAck();
    } catch (error) {
      // Handled and committed; only the acknowledgement was lost (NATS restarting, say). That is no handler
      // failure, so no retry and no dead letter: JetStream redelivers after AckWait and the inbox skips it.
      binding.service.logger.warn("Handled event not acknowledged; its redelivery will be skipped", {
        consumer: binding.consumer,
        eventId: event.id,
        error: (error as Error).message,
      });
    }
  }

  async unsubscribe(consumer: string) {
    const mine = this.#consumers.filter((c) => c.consumer === consumer);
    for (const c of mine) c.stop();
    await Promise.allSettled(mine.map((c) => c.done));
    for (const c of mine) this.#consumers.splice(this.#consumers.indexOf(c), 1);
  }

  async close() {
    for (const c of this.#consumers) c.stop();
    await Promise.allSettled(this.#consumers.map((c) => c.done));
  }
}

type SharedTransport = { transport: Promise<EventTransport>; users: number; nc?: NatsConnection };
const transports = new WeakMap<moleculer.ServiceBroker, SharedTransport>();

/** One transport per broker, shared by its services; closed when the last of them stops. */
export function acquireTransport(broker: moleculer.ServiceBroker): Promise<EventTransport> {
  let shared = transports.get(broker);
  if (!shared) {
    const config = configOf(broker);
    const entry: SharedTransport = { users: 0, transport: Promise.resolve(undefined as never) };
    entry.transport = config.nats
      ? connect({ servers: config.nats.url, name: `${broker.nodeID}-events`, maxReconnectAttempts: -1 }).then(
          (nc) => {
            entry.nc = nc;
            return new JetStreamTransport(config, nc);
          },
          (error) => {
            // Do not keep a failed connection attempt: the next service to start tries again.
            if (transports.get(broker) === entry) transports.delete(broker);
            throw error;
          },
        )
      : Promise.resolve(new LocalEventBus(config));
    shared = entry;
    transports.set(broker, shared);
  }
  shared.users++;
  return shared.transport;
}

export async function releaseTransport(
  broker: moleculer.ServiceBroker,
  transport: EventTransport,
  consumer: string,
): Promise<void> {
  await transport.unsubscribe(consumer);
  const shared = transports.get(broker);
  if (!shared || --shared.users > 0) return;
  await transport.close();
  transports.delete(broker);
  if (shared.nc) await shared.nc.drain().catch(() => shared.nc?.close());
}

// ---------------------------------------------------------------------------------------------------------------
// Relaying: rows are claimed with a lease (no transaction is held across the publish), published, then marked.
// Claiming by status with SKIP LOCKED, never by "id greater than the last one", so late commits are not skipped.

export type RelayOptions = {
  orm: HearthOrm;
  schema: string;
  transport: EventTransport;
  config: HearthConfig;
  logger: moleculer.Service["logger"];
  source: string;
  /** Deliveries must wait until every service of the process has subscribed. */
  isReady: () => boolean;
  batchSize?: number;
};

type ClaimedRow = { id: string; event: string; payload: Record<string, unknown> | string; created_at: string | Date };

export class OutboxRelay {
  readonly #o: Required<RelayOptions>;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #wakeRequested = false;
  #lastSweep = 0;

  constructor(options: RelayOptions) {
    this.#o = { batchSize: 100, ...options };
  }

  async start() {
    if (this.#o.transport.singleProcess) {
      // Only this process relays this outbox, so a claim left by a previous run is stale.
      await this.#o.orm.em
        .fork()
        .getConnection()
        .execute(`update "${this.#o.schema}".outbox set claimed_until = null where published_at is null`);
    }
    this.#schedule(0);
  }

  /** Called after a transaction that recorded events commits, so they go out without waiting for the poll. */
  wake() {
    if (this.#stopped) return;
    if (this.#running) {
      this.#wakeRequested = true;
      return;
    }
    this.#schedule(0);
  }

  async stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /**
   * Removes what is no longer needed, in small batches so no lock is held long: outbox rows published more than
   * OUTBOX_RETENTION_DAYS ago, inbox rows older than the stream's retention. Never an unpublished row. Safe to run
   * on several replicas at once.
   */
  async sweep(): Promise<{ outbox: number; inbox: number }> {
    const { schema, orm } = this.#o;
    const connection = orm.em.fork().getConnection();
    const removeAll = async (sql: string) => {
      let total = 0;
      for (;;) {
        const result = (await connection.execute(sql, [], "run")) as { affectedRows?: number };
        const n = result.affectedRows ?? 0;
        total += n;
        if (n < SWEEP_BATCH) return total;
      }
    };
    const outbox = await removeAll(
      `delete from "${schema}".outbox where id in (select id from "${schema}".outbox
       where published_at < now() - interval '${OUTBOX_RETENTION_DAYS} days' limit ${SWEEP_BATCH})`,
    );
    const inbox = await removeAll(
      `delete from "${schema}".inbox where (consumer, event_id) in (select consumer, event_id from "${schema}".inbox
       where handled_at < now() - interval '${INBOX_RETENTION_DAYS} days' limit ${SWEEP_BATCH})`,
    );
    if (outbox + inbox > 0) this.#o.logger.info("Old outbox and inbox rows removed", { schema, outbox, inbox });
    return { outbox, inbox };
  }

  /** Relays until the outbox is empty; for the CLI and tests. Returns how many events went out. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.#relayBatch();
      total += n;
      if (n === 0) return total;
    }
  }

  #schedule(delayMs: number) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), delayMs);
  }

  #tick() {
    if (this.#stopped) return;
    this.#running = (async () => {
      let next = this.#o.config.events.pollMs;
      try {
        if (this.#o.isReady()) {
          const relayed = await this.#relayBatch();
          if (relayed >= this.#o.batchSize) next = 0;
          if (Date.now() - this.#lastSweep >= SWEEP_INTERVAL_MS) {
            this.#lastSweep = Date.now();
            await this.sweep();
          }
        }
      } catch (error) {
        this.#o.logger.warn("Outbox relay round failed; will retry", { error: (error as Error).message });
        next = Math.max(next, 1000);
      }
      this.#running = undefined;
      if (this.#wakeRequested) {
        this.#wakeRequested = false;
        next = 0;
      }
      if (!this.#stopped) this.#schedule(next);
    })();
  }

  async #relayBatch(): Promise<number> {
    const { schema, orm, transport, source, config } = this.#o;
    // A relay's claim on a row (OUTBOX_CLAIM_LEASE_MS): long enough to publish a batch, short enough to
    // recover a dead relay's rows fast.
    const leaseMs = Number(config.events.claimLeaseMs);
    const connection = orm.em.fork().getConnection();
    const rows = (await connection.execute(
      `with next as (
         select id from "${schema}".outbox
         where published_at is null and (claimed_until is null or claimed_until < now())
         order by created_at
         limit ${Number(this.#o.batchSize)}
         for update skip locked
       )
       update "${schema}".outbox o
       set claimed_until = now() + ${leaseMs} * interval '1 millisecond', attempts = o.attempts + 1
       from next where o.id = next.id
       returning o.id, o.event, o.payload, o.created_at`,
    )) as ClaimedRow[];
    if (rows.length === 0) return 0;
    // Published concurrently: consumers get no ordering guarantee between events, and must not need one.
    const results = await Promise.allSettled(
      rows.map((row) =>
        transport.publish({
          id: row.id,
          name: row.event,
          payload: typeof row.payload === "string" ? JSON.parse(row.payload) : row.payload,
          occurredAt: new Date(row.created_at).toISOString(),
          source,
        }),
      ),
    );
    const published = rows.filter((_, i) => results[i]!.status === "fulfilled").map((r) => r.id);
    if (published.length > 0) failpoint("relay.after-publish");
    if (published.length > 0) {
      await connection.execute(
        `update "${schema}".outbox set published_at = now(), claimed_until = null, last_error = null
         where id in (${published.map(() => "?").join(", ")})`,
        published,
      );
    }
    for (const [i, result] of results.entries()) {
      if (result.status === "rejected") {
        const reason = result.reason instanceof Error ? result.reason.message : String(result.reason);
        // Back off this row; the lease already keeps others away until then.
        await connection.execute(
          `update "${schema}".outbox set claimed_until = now() + interval '2 seconds', last_error = ? where id = ?`,
          [reason, rows[i]!.id],
        );
        this.#o.logger.warn("Outbox event not published; will retry", { eventId: rows[i]!.id, error: reason });
      }
    }
    return published.length;
  }
}

/** Acks, naks and terms throw at once on a closed connection; the event is then simply redelivered later. */
function settle(action: () => void): void {
  try {
    action();
  } catch {
    // Nothing to do: JetStream redelivers after AckWait and the inbox keeps the effect single.
  }
}
