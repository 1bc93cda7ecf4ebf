import { defineEntity, p } from "@mikro-orm/core";

/**
 * The tables behind durable domain events, created in each service's own schema by that service's
 * migrations. Built by a factory so every service's ORM owns its own entity classes (MikroORM keeps
 * metadata on the class, and two ORMs must not share one).
 */
export function createMessagingEntities() {
  const OutboxMessage = defineEntity({
    name: "OutboxMessage",
    tableName: "outbox",
    // The relays' claim (oldest unpublished first) by this index alone: without it each claim sorts every
    // unpublished row (29 ms a claim with 100,000 waiting, 1.7 ms with it: a first sync's events drained ~10x faster).
    indexes: [{ name: "outbox_unpublished_idx", properties: ["createdAt"], where: "published_at is null" }],
    properties: {
      id: p.uuid().primary(),
      event: p.string().length(200),
      payload: p.json<Record<string, unknown>>(),
      createdAt: p.datetime().onCreate(() => new Date()),
      /** Set once NATS has acknowledged (or, embedded, every local consumer has finished). */
      publishedAt: p.datetime().nullable().index("outbox_published_at_idx"),
      /** A relay's lease: another relay may take the row only after it passes. */
      claimedUntil: p.datetime().nullable(),
      attempts: p.integer().default(0),
      lastError: p.text().nullable(),
    },
  });

  const InboxMessage = defineEntity({
    name: "InboxMessage",
    tableName: "inbox",
    properties: {
      consumer: p.string().length(200).primary(),
      eventId: p.uuid().primary(),
      handledAt: p.datetime().onCreate(() => new Date()),
    },
  });

  const DeadLetter = defineEntity({
    name: "DeadLetter",
    tableName: "dead_letter",
    uniques: [{ name: "dead_letter_consumer_event_unique", properties: ["consumer", "eventId"] }],
    properties: {
      id: p.uuid().primary(),
      consumer: p.string().length(200),
      eventId: p.uuid(),
      event: p.string().length(200),
      payload: p.json<Record<string, unknown>>(),
      error: p.text(),
      attempts: p.integer(),
      failedAt: p.datetime().onCreate(() => new Date()),
    },
  });

  return { OutboxMessage, InboxMessage, DeadLetter };
}

export type MessagingEntities = ReturnType<typeof createMessagingEntities>;
