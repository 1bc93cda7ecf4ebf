import { createTestEnvironment, query, startBroker } from "@hearth/testkit";
import type { EntityManager } from "@mikro-orm/core";
import test from "ava";
import type moleculer from "moleculer";
import { type DatabaseThis, databaseMixin } from "../src/index.ts";
import { Order, orderPlaced, ordersDatabase } from "./fixtures/orders/orders.service.ts";

const DEMO_ITEMS = ["Welcome mug", "Hoodie", "Notebook"];

/** The orders service with demo data: seeds the demo items that are missing, each with its event. */
const seededOrders: moleculer.ServiceSchema = {
  name: "orders",
  mixins: [databaseMixin(ordersDatabase)],
  async seedDemo(this: DatabaseThis, em: EntityManager) {
    const existing = new Set((await em.find(Order, {})).map((o) => o.item));
    const missing = DEMO_ITEMS.filter((item) => !existing.has(item));
    for (const item of missing) {
      const orderId = crypto.randomUUID();
      em.create(Order, { id: orderId, item } as never);
      this.recordEvent(em, orderPlaced, { orderId, item });
    }
    return missing.length;
  },
} as moleculer.ServiceSchema;

async function counts(url: string) {
  const [orders] = await query(url, "select count(*)::int as n from orders.orders");
  const [events] = await query(url, "select count(*)::int as n from orders.outbox");
  return { orders: orders.n, events: events.n };
}

test("demo data is seeded once with SEED_DEMO=always, and a second start adds nothing", async (t) => {
  const env = await createTestEnvironment({ env: { SEED_DEMO: "always" } });
  t.teardown(() => env.cleanup());
  const first = await startBroker(env.config, [seededOrders]);
  await first.stop();
  t.deepEqual(await counts(env.database!.url), { orders: 3, events: 3 });
  const second = await startBroker(env.config, [seededOrders]);
  await second.stop();
  t.deepEqual(await counts(env.database!.url), { orders: 3, events: 3 });
});

test("SEED_DEMO=on seeds the embedded database only; a real PostgreSQL stays empty", async (t) => {
  const env = await createTestEnvironment({ env: { SEED_DEMO: "on" } });
  t.teardown(() => env.cleanup());
  const broker = await startBroker(env.config, [seededOrders]);
  await broker.stop();
  t.deepEqual(await counts(env.database!.url), { orders: 0, events: 0 });
});
