// 100,000 people by bulk activity feed: notifications (child node) → NATS → m365 (child node) → Graph emulator with
// Microsoft's published limit for the bulk feed on a scaled clock.
//
// The floor is what the emulator itself lets through, from its published limit and how it counts
// (packages/graph-emulator/src/throttling.ts): `teamsBulkActivityNotification` is 2 calls per window of 1 s / scale;
// a window opens with the first call after the previous one has closed and admits 2. The fastest possible client
// sends 2 calls at once at 0, P, 2P, … (P = 1/scale s), so 1,000 calls of 100 end at (1000 − 2) / 2 · P: 24.95 s at
// scale 20. Nothing of Hearth's configuration enters it. The bulk feed is one of m365's window classes: a call goes
// once the call two before it has been answered and a period has passed since (m365 README, Budgets), so Hearth pays
// the round trips of the calls on top of the floor, not a share of the rate.
//
// Measured: from the first notify of the audience until Hearth's status says everyone is sent, after a warm-up
// fan-out to 1,000 other people (the services have sent before, as in production; the window is empty again).
//
//   npm run bench -- fanout [recipients=100000] [scale=20]     (SHARE=0.9 … to run the window at a share of the
//   limit; FIRST_PART=1000: ids in the first notify part, doubling up to 20,000 per part; ANALYSE=1: delivery gaps)
import { rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { REPO_ROOT } from "@hearth/platform";
import { createTestEnvironment, query, spawnNode, startBroker, waitFor, waitForServices } from "@hearth/testkit";

const SERVICES = {
  m365: path.join(REPO_ROOT, "services/m365/src/m365.service.ts"),
  notifications: path.join(REPO_ROOT, "services/notifications/src/notifications.service.ts"),
  // The caller that notifies the audience, in a node of its own like onboarding or pulse: serialising its 1 MB
  // parts in this process (the emulator's) held Graph's answers up by 10-25 ms in the first seconds.
  caller: path.join(REPO_ROOT, "tests/bench/fixtures/audience-caller.service.ts"),
};

type Status = { counts: Record<string, number> };

/** People of a first, unmeasured fan-out: the services have sent before, as they have in production. */
const WARM_UP = 1_000;

export async function run(args: string[]) {
  const recipients = Number(args[0] ?? 100_000);
  const scale = Number(args[1] ?? 20);
  const emulator = await startGraphEmulator({
    port: 0,
    // The recipients, and others for a warm-up fan-out before the measured one.
    tenant: { users: recipients + WARM_UP, seed: "fanout-bench" },
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
        M365_WINDOW_SHARE: process.env.SHARE ?? "1",
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
    spawnNode({ serviceModules: [SERVICES.caller], env: env.env }),
  ];
  const idsFile = path.join(os.tmpdir(), `fanout-bench-${process.pid}.json`);
  const broker = await startBroker(env.config, []);
  try {
    await Promise.all(nodes.map((n) => n.ready));
    await waitForServices(broker, ["m365", "notifications", "benchAudience"]);
    const everyone = emulator.control.tenant.records.map((r) => r.data.id as string);
    const ids = everyone.slice(0, recipients);
    for (const id of everyone) emulator.control.installApp(id);
    // The app rolled out by an admin's setup policy: Teams' install events reached the bot, so m365 knows it is
    // there and installs nothing first (people it does not know get the app through Graph, 30 per second).
    await query(
      env.env.DATABASE_URL!,
      `insert into m365.teams_app_installation (user_id, source, confirmed_at)
       select u, 'bot', now() from unnest($1::uuid[]) as u on conflict do nothing`,
      [everyone],
    );
    // A first fan-out, not measured: the code paths have run (compiled) before, and the bulk feed's send window
    // is empty again (two periods) when the measured one starts.
    await broker.call("notifications.notify", {
      audience: { userIds: everyone.slice(recipients) },
      templateId: "announcement",
      data: { title: "Warm-up", body: "Not measured." },
      priority: "urgent",
      dedupeKey: "fanout-bench-warm-up",
    });
    await waitFor(
      "the warm-up delivered",
      async () => emulator.control.activityCount(),
      (n) => n >= WARM_UP,
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, (2 * 1000) / scale));
    // A steady state has statistics for that table (autovacuum would take a minute to see the 100,000 new rows).
    await query(env.env.DATABASE_URL!, "analyze m365.teams_app_installation");
    // The seeding's dirty pages (and a previous run's dropped database) are written out now, not by a checkpoint
    // in the middle of the measured run (back-to-back runs were 0.01-0.03 slower).
    await query(env.env.DATABASE_URL!, "checkpoint");
    await writeFile(idsFile, JSON.stringify(ids));
    const started = Date.now();
    // A NATS message holds about 20,000 ids (1 MB): the caller sends the audience in parts under one dedupe key, one
    // request, growing from FIRST_PART (audienceParts).
    const { requestId } = (await broker.call(
      "benchAudience.send",
      { file: idsFile, firstPart: Number(process.env.FIRST_PART ?? 1_000), dedupeKey: `fanout-bench-${started}` },
      { timeout: 10 * 60_000 },
    )) as { requestId: string };
    const acceptedSeconds = (Date.now() - started) / 1000;
    // Counting 100,000 rows by status every 50 ms would keep PostgreSQL busy during the run it measures: the
    // emulator's own count (in this process) is watched instead, and Hearth is asked only now and then (a failure
    // ends the wait too), then until it reports everyone sent.
    const settled = (s: Status) =>
      (s.counts.sent ?? 0) + (s.counts.deadLettered ?? 0) + (s.counts.failed ?? 0) >= ids.length;
    for (let lastAsked = Date.now(); emulator.control.activityCount() < ids.length + WARM_UP; ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (Date.now() - lastAsked < 2000) continue;
      lastAsked = Date.now();
      const status = (await broker.call("notifications.getStatus", { requestId, limit: 1 })) as Status;
      if (settled(status) || (status.counts.deadLettered ?? 0) + (status.counts.failed ?? 0) > 0) break;
    }
    // Then Hearth's own status, asked every 10 ms (waitFor's 50 ms would be a measurable share of the tail).
    let final = (await broker.call("notifications.getStatus", { requestId, limit: 1 })) as Status;
    for (const deadline = Date.now() + 30 * 60_000; !settled(final) && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      final = (await broker.call("notifications.getStatus", { requestId, limit: 1 })) as Status;
    }
    const wallSeconds = (Date.now() - started) / 1000;
    const calls = Math.ceil(ids.length / 100);
    const floorSeconds = (calls - 2) / (2 * scale);
    const share = Number(process.env.SHARE ?? "1");
    const received = ids.filter((id) => emulator.control.activities(id).length === 1).length;
    const [{ retries }] = await query(
      env.env.DATABASE_URL!,
      `select coalesce(sum(attempts - 1), 0)::int as retries from notifications.delivery where request_id = $1`,
      [requestId],
    );
    const throttled = emulator.control.throttled().teamsBulkActivityNotification ?? 0;
    console.log(
      `recipients ${ids.length}, bulk calls ${calls}, scale ${scale}: wall ${wallSeconds.toFixed(2)} s, floor ${floorSeconds.toFixed(2)} s` +
        ` (m365's send window at ${share} of the limit); Graph answered 429 ${throttled} times`,
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
    await rm(idsFile, { force: true });
    await broker.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await emulator.close();
    await env.cleanup();
  }
}
