import { createTestEnvironment, query, startBroker, waitFor } from "@hearth/testkit";
import type { EntityManager } from "@mikro-orm/core";
import test from "ava";
import type moleculer from "moleculer";
import { type DomainEvent, databaseMixin } from "../src/index.ts";
import { Entry, ledgerDatabase } from "./fixtures/ledger/ledger.service.ts";
import orders from "./fixtures/orders/orders.service.ts";

test("dead letters can be listed and, once the handler is fixed, retried into exactly one effect", async (t) => {
  const env = await createTestEnvironment({ env: { EVENT_MAX_ATTEMPTS: "2" } });
  t.teardown(() => env.cleanup());
  const state = { broken: true };
  // The ledger with a bug that a deploy later fixes.
  const ledger = {
    name: "ledger",
    mixins: [databaseMixin(ledgerDatabase)],
    domainEvents: {
      async "order.placed"(event: DomainEvent<{ orderId: string; item: string }>, em: EntityManager) {
        if (state.broken) throw new Error("ledger bug #42");
        em.create(Entry, {
          id: crypto.randomUUID(),
          eventId: event.id,
          orderId: event.payload.orderId,
          item: event.payload.item,
        } as never);
      },
    },
  } as moleculer.ServiceSchema;
  const broker = await startBroker(env.config, [orders, ledger]);
  t.teardown(() => broker.stop());

  for (const item of ["tea", "coffee", "cocoa"]) await broker.call("orders.place", { item });
  const dead = await waitFor(
    "3 dead letters",
    () =>
      broker.call("ledger.deadLetters") as Promise<
        Array<{ id: string; event: string; error: string; attempts: number }>
      >,
    (rows) => rows.length === 3,
  );
  t.is(dead.length, 3);
  t.true(dead.every((d) => d.event === "order.placed" && d.attempts === 2 && d.error.includes("ledger bug #42")));

  // Retrying one while still broken keeps it, with the new error.
  const stillBroken = (await broker.call("ledger.retryDeadLetters", { ids: [dead[0]!.id] })) as {
    succeeded: number;
    failed: unknown[];
  };
  t.is(stillBroken.succeeded, 0);
  t.is(stillBroken.failed.length, 1);

  state.broken = false;
  const fixed = (await broker.call("ledger.retryDeadLetters", {})) as { retried: number; succeeded: number };
  t.deepEqual({ retried: fixed.retried, succeeded: fixed.succeeded }, { retried: 3, succeeded: 3 });
  t.deepEqual(await broker.call("ledger.deadLetters"), []);
  const entries = await query(
    env.database!.url,
    "select item, count(*)::int as n from ledger.entries group by item order by item",
  );
  t.deepEqual(entries, [
    { item: "cocoa", n: 1 },
    { item: "coffee", n: 1 },
    { item: "tea", n: 1 },
  ]);
  // A second retry finds nothing to do and changes nothing.
  t.is(((await broker.call("ledger.retryDeadLetters", {})) as { retried: number }).retried, 0);
});

test("retrying dead letters is internal: a call marked as coming through the gateway is refused", async (t) => {
  const env = await createTestEnvironment({ database: "embedded", nats: false });
  t.teardown(() => env.cleanup());
  const broker = await startBroker(env.config, [orders]);
  t.teardown(() => broker.stop());
  const error = await t.throwsAsync(broker.call("orders.retryDeadLetters", {}, { meta: { viaGateway: true } }));
  t.is((error as { code?: number }).code, 403);
  const invalid = await t.throwsAsync(broker.call("orders.retryDeadLetters", { ids: ["not-a-guid"] }));
  t.is((invalid as { code?: number }).code, 422);
});
