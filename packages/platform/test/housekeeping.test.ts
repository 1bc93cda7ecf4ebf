import { createTestEnvironment, query, startBroker } from "@hearth/testkit";
import test from "ava";
import type { DatabaseThis } from "../src/index.ts";
import orders from "./fixtures/orders/orders.service.ts";

test("the sweep removes old published outbox rows and old inbox rows, never an unpublished event", async (t) => {
  const env = await createTestEnvironment();
  t.teardown(() => env.cleanup());
  const broker = await startBroker(env.config, [orders]);
  t.teardown(() => broker.stop());
  const url = env.database!.url;
  const insertOutbox = (publishedDaysAgo: number | null, createdDaysAgo: number) =>
    query(
      url,
      // The unpublished row carries a live claim so that the running relay leaves it alone during the test.
      `insert into orders.outbox (id, event, payload, created_at, published_at, claimed_until, attempts)
       values (gen_random_uuid(), 'order.placed', '{}', now() - make_interval(days => $1::int),
               case when $2::int is null then null else now() - make_interval(days => $2::int) end,
               case when $2::int is null then now() + interval '1 hour' end, 1)`,
      [createdDaysAgo, publishedDaysAgo],
    );
  await insertOutbox(8, 8); // published long ago: goes
  await insertOutbox(1, 1); // published yesterday: stays
  await insertOutbox(null, 30); // never published (a relay was down for a month): stays
  await query(
    url,
    "insert into orders.inbox (consumer, event_id, handled_at) values ('orders', gen_random_uuid(), now() - interval '16 days')",
  );
  await query(
    url,
    "insert into orders.inbox (consumer, event_id, handled_at) values ('orders', gen_random_uuid(), now() - interval '2 days')",
  );

  const service = broker.getLocalService("orders") as unknown as DatabaseThis;
  t.deepEqual(await service.outboxRelay.sweep(), { outbox: 1, inbox: 1 });
  const left = await query(url, "select (published_at is null) as unpublished from orders.outbox order by created_at");
  t.deepEqual(
    left.map((r) => r.unpublished),
    [true, false],
  );
  t.is((await query(url, "select count(*)::int as n from orders.inbox"))[0].n, 1);
  t.deepEqual(await service.outboxRelay.sweep(), { outbox: 0, inbox: 0 });
});
