// New work reaches an idle dispatch loop through notify's wake, not the poll: here the poll is a minute, so a wake
// that got lost shows as a request left waiting.
import path from "node:path";
import { m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { createTestEnvironment, spawnNode, startBroker, waitFor, waitForServices } from "@hearth/testkit";
import test from "ava";
import { rollOutTeamsApp } from "./fixtures/teams-app.ts";

const SERVICES = {
  m365: path.join(import.meta.dirname, "..", "..", "m365", "src", "m365.service.ts"),
  notifications: path.join(import.meta.dirname, "..", "src", "notifications.service.ts"),
};

test("a request that arrives while the loop's last batch is still being sent is claimed at once", async (t) => {
  // Microsoft's real bulk limit (2 calls a second): 5 calls of 100 take two seconds.
  const emulator = await startGraphEmulator({ port: 0, tenant: { users: 600, seed: "notifications-wake" } });
  const env = await createTestEnvironment();
  const nodes = [
    spawnNode({ serviceModules: [SERVICES.m365], env: { ...env.env, ...m365ClientEnv(emulator) } }),
    spawnNode({
      serviceModules: [SERVICES.notifications],
      env: {
        ...env.env,
        NOTIFICATIONS_POLL_MS: "60000",
        NOTIFICATIONS_DISPATCH_LOOPS: "1",
        NOTIFICATIONS_FEED_CALL_SIZE: "100",
      },
    }),
  ];
  const broker = await startBroker(env.config, []);
  try {
    await Promise.all(nodes.map((n) => n.ready));
    await waitForServices(broker, ["m365", "notifications"]);
    const ids = emulator.control.tenant.records.slice(0, 501).map((r) => r.data.id as string);
    await rollOutTeamsApp(emulator, env.env.DATABASE_URL!, ids);
    const notify = (userIds: string[], dedupeKey: string) =>
      broker.call("notifications.notify", {
        audience: { userIds },
        templateId: "announcement",
        data: { title: "Canteen closed today", body: "Food trucks at the front door." },
        priority: "urgent",
        dedupeKey,
      });
    await notify(ids.slice(0, 500), "canteen-all");
    // The loop claimed 100, 200 and 200, and found nothing more while the last calls wait for Graph's window: the
    // next request comes then.
    await waitFor(
      "four calls answered",
      async () => emulator.control.activityCount(),
      (n) => n >= 400,
      30_000,
    );
    const late = ids[500]!;
    await notify([late], "canteen-late");
    await waitFor(
      "the late request delivered (the poll would take a minute)",
      async () => emulator.control.activities(late).length,
      (n) => n === 1,
      20_000,
    );
    // Everyone once (the fifth call of the first request may still be on its way).
    t.is(
      await waitFor(
        "everyone",
        async () => emulator.control.activityCount(),
        (n) => n >= 501,
      ),
      501,
    );
  } finally {
    await broker.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await emulator.close();
    await env.cleanup();
  }
});
