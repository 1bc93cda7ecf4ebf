// 100,000 people by bulk activity feed: notifications (child node) → NATS → m365 (child node) → Graph emulator with
// Microsoft's published limit for the bulk feed on a scaled clock.
//
// The floor is what the emulator itself lets through, from its published limit and how it counts
// (packages/graph-emulator/src/throttling.ts): `teamsBulkActivityNotification` is 2 calls per window of 1 s / scale;
// a window opens with the first call after the previous one has closed and admits 2. The fastest possible client
// sends 2 calls at once at 0, P, 2P, … (P = 1/scale s), so 1,000 calls of 100 end at (1000 − 2) / 2 · P: 24.95 s at
// scale 20. Nothing of Hearth's configuration enters it. What Hearth allows itself is printed next to it: m365's
// budget uses M365_BUDGET_SHARE of the published rate (default 0.9, so at best floor / 0.9, ratio 1.11).
//
//   npm run bench -- fanout [recipients=100000] [scale=20]     (SHARE=0.95 … to try another budget share;
//   FIRST_PART=1000: ids in the first notify part, the rest go 20,000 per part)
import path from "node:path";
import { m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { REPO_ROOT } from "@hearth/platform";
import { createTestEnvironment, query, spawnNode, startBroker, waitFor } from "@hearth/testkit";

const SERVICES = {
  m365: path.join(REPO_ROOT, "services/m365/src/m365.service.ts"),
  notifications: path.join(REPO_ROOT, "services/notifications/src/notifications.service.ts"),
};

type Status = { counts: Record<string, number> };

export async function run(args: string[]) {
  const recipients = Number(args[0] ?? 100_000);
  const scale = Number(args[1] ?? 20);
  const emulator = await startGraphEmulator({
    port: 0,
    tenant: { users: recipients, seed: "fanout-bench" },
    timeScale: scale,
  });
  const env = await createTestEnvironment();
  const nodes = [
    spawnNode({
      serviceModules: [SERVICES.m365],
      env: {
        ...env.env,
        ...m365ClientEnv(emulator),
        M365_LIMITS: JSON.stringify({ teamsBulkActivity: { periodSeconds: 1 / scale } }),
        M365_BUDGET_SHARE: process.env.SHARE ?? "0.9",
      },
    }),
    spawnNode({
      serviceModules: [SERVICES.notifications],
      env: {
        ...env.env,
        NOTIFICATIONS_BATCH_SIZE: process.env.B ?? "5000",
        NOTIFICATIONS_DISPATCH_LOOPS: process.env.L ?? "2",
        NOTIFICATIONS_FEED_PARALLELISM: process.env.P ?? "4",
        NOTIFICATIONS_FEED_CALL_SIZE: process.env.C ?? "500",
        NOTIFICATIONS_POLL_MS: "100",
      },
    }),
  ];
  const broker = await startBroker(env.config, []);
  try {
    await Promise.all(nodes.map((n) => n.ready));
    await waitFor(
      "services",
      async () => broker.registry.getServiceList({ onlyAvailable: true }) as unknown as Array<{ name: string }>,
      (list) => ["m365", "notifications"].every((name) => list.some((s) => s.name === name)),
      30_000,
    );
    const ids = emulator.control.tenant.records.slice(0, recipients).map((r) => r.data.id as string);
    for (const id of ids) emulator.control.installApp(id);
    // The app rolled out by an admin's setup policy: Teams' install events reached the bot, so m365 knows it is
    // there and installs nothing first (people it does not know get the app through Graph, 30 per second).
    await query(
      env.env.DATABASE_URL!,
      `insert into m365.teams_app_installation (user_id, source, confirmed_at)
       select u, 'bot', now() from unnest($1::uuid[]) as u on conflict do nothing`,
      [ids],
    );
    const started = Date.now();
    // Urgent: the benchmark measures throughput, not the working hours of the moment it runs.
    // A NATS message holds about 20,000 ids (1 MB): the audience goes in parts under one dedupe key, one request.
    // The first part is small, so that the first people are on their way while the rest is still being accepted.
    let requestId = "";
    const firstPart = Number(process.env.FIRST_PART ?? 1_000);
    for (let i = 0; i < ids.length; ) {
      const size = i === 0 ? firstPart : 20_000;
      const part = ids.slice(i, i + size);
      i += size;
      ({ requestId } = (await broker.call("notifications.notify", {
        audience: { userIds: part },
        templateId: "announcement",
        data: { title: "All-hands on Friday", body: "Bring your questions." },
        priority: "urgent",
        dedupeKey: `fanout-bench-${started}`,
      })) as { requestId: string });
    }
    const acceptedSeconds = (Date.now() - started) / 1000;
    const final = await waitFor(
      "delivered",
      () => broker.call("notifications.getStatus", { requestId, limit: 1 }) as Promise<Status>,
      (s) => (s.counts.sent ?? 0) + (s.counts.deadLettered ?? 0) + (s.counts.failed ?? 0) >= ids.length,
      30 * 60_000,
    );
    const wallSeconds = (Date.now() - started) / 1000;
    const calls = Math.ceil(ids.length / 100);
    const floorSeconds = (calls - 2) / (2 * scale);
    const share = Number(process.env.SHARE ?? "0.9");
    const budgetFloorSeconds = (calls - 1) / (2 * share * scale);
    const received = ids.filter((id) => emulator.control.activities(id).length === 1).length;
    const [{ retries }] = await query(
      env.env.DATABASE_URL!,
      `select coalesce(sum(attempts - 1), 0)::int as retries from notifications.delivery where request_id = $1`,
      [requestId],
    );
    const throttled = emulator.control.throttled().teamsBulkActivityNotification ?? 0;
    console.log(
      `recipients ${ids.length}, bulk calls ${calls}, scale ${scale}: wall ${wallSeconds.toFixed(2)} s, floor ${floorSeconds.toFixed(2)} s` +
        ` (m365's budget at share ${share}: ${budgetFloorSeconds.toFixed(2)} s); Graph answered 429 ${throttled} times`,
    );
    const delivered = ids.flatMap((id) => emulator.control.activities(id).map((a) => Date.parse(a.deliveredAt)));
    if (process.env.ANALYSE) {
      const times = [...new Set(delivered)].sort((a, b) => a - b);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      const hist = new Map<number, number>();
      for (const g of gaps)
        hist.set(Math.min(200, Math.round(g / 5) * 5), (hist.get(Math.min(200, Math.round(g / 5) * 5)) ?? 0) + 1);
      console.error("gap histogram (ms, 5 ms buckets):", JSON.stringify([...hist].sort((a, b) => a[0] - b[0])));
      const big = gaps.map((g, i) => [g, times[i]! - started] as const).filter(([g]) => g > 45);
      console.error("gaps > 45 ms (gap, at):", JSON.stringify(big.slice(0, 80).map(([g, at]) => [g, at])));
    }
    const first = (Math.min(...delivered) - started) / 1000;
    const last = (Math.max(...delivered) - started) / 1000;
    console.log(
      `accepted after ${acceptedSeconds.toFixed(2)} s; first delivery at ${first.toFixed(2)} s, last at ${last.toFixed(2)} s`,
    );
    console.log(
      `sent ${final.counts.sent ?? 0}, received exactly once ${received}, dead-lettered ${final.counts.deadLettered ?? 0}`,
    );
    return {
      bench: "fanout",
      recipients: ids.length,
      wallSeconds: Number(wallSeconds.toFixed(2)),
      floorSeconds: Number(floorSeconds.toFixed(2)),
      ratio: Number((wallSeconds / floorSeconds).toFixed(3)),
      failed: ids.length - (final.counts.sent ?? 0),
      retries,
      throttled,
    };
  } finally {
    await broker.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await emulator.close();
    await env.cleanup();
  }
}
