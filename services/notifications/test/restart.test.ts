// A notifications node killed (SIGKILL) in the middle of a fan-out: a new node takes over when the dead node's leases
// run out, and everyone gets their notification exactly once. The m365 calls in flight at the kill went on in m365
// and their answers were lost with the node; the new node repeats them with the same idempotency keys (kept on the
// delivery rows) and m365 answers from its record instead of sending again.
import path from "node:path";
import { m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { createTestEnvironment, spawnNode, startBroker, waitFor, waitForServices } from "@hearth/testkit";
import test from "ava";
import { rollOutTeamsApp } from "./fixtures/teams-app.ts";

const SCALE = 10;
const SERVICES = {
  m365: path.join(import.meta.dirname, "..", "..", "m365", "src", "m365.service.ts"),
  notifications: path.join(import.meta.dirname, "..", "src", "notifications.service.ts"),
};

test("a restart mid fan-out loses nothing", async (t) => {
  const emulator = await startGraphEmulator({
    port: 0,
    tenant: { users: 5000, seed: "notifications-restart" },
    timeScale: SCALE,
  });
  const env = await createTestEnvironment();
  const m365 = spawnNode({
    serviceModules: [SERVICES.m365],
    env: {
      ...env.env,
      ...m365ClientEnv(emulator),
      M365_LIMITS: JSON.stringify({ teamsBulkActivity: { periodSeconds: 1 / SCALE } }),
    },
  });
  const notificationsEnv = {
    ...env.env,
    NOTIFICATIONS_LEASE_MS: "3000",
    NOTIFICATIONS_POLL_MS: "100",
    NOTIFICATIONS_DISPATCH_LOOPS: "1",
    NOTIFICATIONS_FEED_PARALLELISM: "4",
    NOTIFICATIONS_FEED_CALL_SIZE: "100",
  };
  const first = spawnNode({ serviceModules: [SERVICES.notifications], env: notificationsEnv });
  const broker = await startBroker(env.config, []);
  let second: ReturnType<typeof spawnNode> | undefined;
  try {
    await Promise.all([m365.ready, first.ready]);
    await waitForServices(broker, ["m365", "notifications"]);
    const ids = emulator.control.tenant.records.slice(0, 5000).map((r) => r.data.id as string);
    await rollOutTeamsApp(emulator, env.env.DATABASE_URL!, ids);
    const received = () => ids.filter((id) => emulator.control.activities(id).length > 0).length;
    const { requestId, accepted } = (await broker.call("notifications.notify", {
      audience: { userIds: ids },
      templateId: "announcement",
      data: { title: "Fire drill at 11:00", body: "Leave by the stairs." },
      priority: "urgent",
      dedupeKey: "fire-drill-2026-12-02",
    })) as { requestId: string; accepted: number };
    t.is(accepted, 5000);
    await waitFor(
      "a fifth delivered",
      async () => received(),
      (n) => n >= 1000,
      60_000,
    );
    await first.kill();
    const atKill = received();
    t.true(atKill < 5000, `the node died mid fan-out (${atKill} of 5000 reached)`);

    second = spawnNode({ serviceModules: [SERVICES.notifications], env: notificationsEnv });
    await second.ready;
    const status = await waitFor(
      "everyone",
      () =>
        broker.call("notifications.getStatus", { requestId, limit: 1 }) as Promise<{ counts: Record<string, number> }>,
      (s) => s.counts.sent === 5000,
      120_000,
    );
    t.is(status.counts.sent, 5000);
    const counts = ids.map((id) => emulator.control.activities(id).length);
    t.is(counts.filter((n) => n === 0).length, 0, "nobody was lost");
    const twice = counts.filter((n) => n > 1).length;
    t.log(`killed at ${atKill} of 5000 reached; ${twice} people got it twice`);
    t.is(twice, 0, "the calls in flight at the kill are not sent again");
  } finally {
    await broker.stop();
    await Promise.all([m365.stop(), first.stop(), second?.stop()]);
    await emulator.close();
    await env.cleanup();
  }
});
