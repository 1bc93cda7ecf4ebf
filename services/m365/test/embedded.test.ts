// The embedded suite (`npm start`: PGlite, no transporter) loads every service, with or without a tenant connection.
import { call } from "@hearth/platform";
import { createTestEnvironment, startBroker } from "@hearth/testkit";
import test from "ava";
import type moleculer from "moleculer";
import { BudgetStore } from "../src/budget.ts";
import { loadM365Config } from "../src/config.ts";
import { createM365Service } from "../src/m365.service.ts";

test("on the embedded database the service starts without a tenant, answers 503, and its budgets work", async (t) => {
  const env = await createTestEnvironment({ database: "embedded", nats: false });
  t.teardown(() => env.cleanup());
  const broker = await startBroker(env.config, [createM365Service(loadM365Config({}))]);
  t.teardown(() => broker.stop());
  const ctx = broker.ContextFactory.create(broker, null as never, {}, {}) as moleculer.Context;
  const error = await t.throwsAsync(call(ctx, "m365.readDirectoryChanges", {}));
  t.like(error, { code: 503, type: "M365_NOT_CONFIGURED" } as never);

  const service = broker.getLocalService("m365") as unknown as {
    em(): { getConnection(): { execute(sql: string, params: unknown[]): Promise<Array<Record<string, unknown>>> } };
  };
  const budgets = new BudgetStore({
    tenant: "embedded",
    execute: (sql, params) => service.em().getConnection().execute(sql, params),
    shapes: { teamsCreate: { capacity: 2, refillPerSecond: 10 } },
  });
  const grants = [];
  for (let i = 0; i < 5; i++) grants.push(await budgets.take("teamsCreate"));
  const spanMs = grants[4].grantedAtMs - grants[0].grantedAtMs;
  t.true(spanMs >= 290, `5 grants at 2 + 10/s took ${spanMs} ms`);
  await budgets.pause("teamsCreate", 300);
  const started = performance.now();
  await budgets.take("teamsCreate");
  t.true(performance.now() - started >= 280);
});
