import { createTestEnvironment, query, startBroker, waitFor } from "@hearth/testkit";
import test from "ava";
import ledger from "./fixtures/ledger/ledger.service.ts";
import orders from "./fixtures/orders/orders.service.ts";

test("an event recorded with an order reaches the ledger once, over JetStream", async (t) => {
  const env = await createTestEnvironment();
  t.teardown(() => env.cleanup());
  const broker = await startBroker(env.config, [orders, ledger]);
  t.teardown(() => broker.stop());

  const placed = [];
  for (let i = 0; i < 20; i++) placed.push(await broker.call("orders.place", { item: `book-${i}` }));
  const entries = await waitFor(
    "20 ledger entries",
    () => query(env.database!.url, "select event_id, count(*)::int as n from ledger.entries group by event_id"),
    (rows) => rows.length >= 20,
  );
  t.is(entries.length, 20);
  t.true(entries.every((r) => r.n === 1));
  const outbox = await query(
    env.database!.url,
    "select count(*)::int as n from orders.outbox where published_at is null",
  );
  t.is(outbox[0].n, 0);
});

test("the embedded bus delivers in process with the same inbox", async (t) => {
  const env = await createTestEnvironment({ database: "embedded", nats: false });
  t.teardown(() => env.cleanup());
  const broker = await startBroker(env.config, [orders, ledger]);
  t.teardown(() => broker.stop());
  for (let i = 0; i < 5; i++) await broker.call("orders.place", { item: `pen-${i}` });
  const ledgerService = broker.getLocalService("ledger") as any;
  const count = await waitFor(
    "5 ledger entries",
    async () =>
      (await ledgerService.em().getConnection().execute("select count(*)::int as n from ledger.entries"))[0].n,
    (n: number) => n >= 5,
  );
  t.is(count, 5);
  const unpublished = await waitFor(
    "an empty outbox",
    async () =>
      (
        await ledgerService
          .em()
          .getConnection()
          .execute("select count(*)::int as n from orders.outbox where published_at is null")
      )[0].n,
    (n: number) => n === 0,
  );
  t.is(unpublished, 0);
});
