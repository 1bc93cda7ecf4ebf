// Fault tests for durable domain events (reliability.md §2 N2–N4, §3 O2–O6): processes die at the worst
// moments, NATS restarts, two relays share an outbox, commits land out of order, a handler always fails.
// Each test has its own database, stream and namespace, and ends with the same reconciliation in SQL: every
// committed order has exactly one ledger entry, the handled event ids are exactly the outbox ids, and no
// outbox row is left unpublished.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  type ChildNode,
  createTestEnvironment,
  freePort,
  query,
  spawnNode,
  startBroker,
  type TestEnvironment,
  waitFor,
} from "@hearth/testkit";
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import type moleculer from "moleculer";
import { connect, type JetStreamManager } from "nats";
import { durableName } from "../src/index.ts";
import ledger from "./fixtures/ledger/ledger.service.ts";
import orders from "./fixtures/orders/orders.service.ts";

const ORDERS = path.join(import.meta.dirname, "fixtures/orders/orders.service.ts");
const LEDGER = path.join(import.meta.dirname, "fixtures/ledger/ledger.service.ts");
const NATS_SERVER = "/usr/sbin/nats-server";

type Placed = { orderId: string; eventId: string };

// ---------------------------------------------------------------------------------------------------------------
// Helpers

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function environment(t: ExecutionContext, env: Record<string, string> = {}) {
  const created = await createTestEnvironment({ env });
  t.teardown(() => created.cleanup());
  return created;
}

async function inProcess(t: ExecutionContext, env: TestEnvironment, services: moleculer.ServiceSchema[]) {
  const broker = await startBroker(env.config, services);
  t.teardown(() => broker.stop());
  return broker;
}

/** A node in a child process, SIGKILLed at teardown if still alive. */
function childNode(t: ExecutionContext, env: TestEnvironment, modules: string[], extra: Record<string, string> = {}) {
  const node: ChildNode = spawnNode({ env: { ...env.env, ...extra }, serviceModules: modules });
  t.teardown(() => node.kill());
  return node;
}

/** Until `broker` can route calls to `service` on that node (our registry learns of it from its INFO). */
async function seeNode(broker: moleculer.ServiceBroker, node: ChildNode, service: string) {
  await node.ready;
  await waitFor(
    `${service} on ${node.nodeID}`,
    async () =>
      (broker.registry.getServiceList({ onlyAvailable: true }) as Array<{ name: string; nodeID: string }>).some(
        (s) => s.name === service && s.nodeID === node.nodeID,
      ),
    Boolean,
  );
}

const sql = (env: TestEnvironment, text: string, params: unknown[] = []) => query(env.database!.url, text, params);

async function count(env: TestEnvironment, text: string, params: unknown[] = []): Promise<number> {
  return (await sql(env, text, params))[0].n;
}

const handledCount = (env: TestEnvironment) =>
  count(env, "select count(distinct event_id)::int as n from ledger.entries");
const orderCount = (env: TestEnvironment) => count(env, "select count(*)::int as n from orders.orders");

/** Until every outbox row (but the excluded) is published and handled by the ledger. */
async function settled(env: TestEnvironment, exclude: string[] = [], timeoutMs = 30_000) {
  await waitFor(
    "the ledger to catch up with the outbox",
    async () =>
      (
        await sql(
          env,
          `select (select count(*)::int from orders.outbox where published_at is null) as unpublished,
                  (select count(*)::int from orders.outbox where not (id = any($1::uuid[]))) as committed,
                  (select count(distinct event_id)::int from ledger.entries) as handled`,
          [exclude],
        )
      )[0],
    (r) => r.unpublished === 0 && r.handled >= r.committed,
    timeoutMs,
  );
  // ...and JetStream has nothing left to deliver or awaiting an ack: any duplicate would be in the ledger now.
  await waitFor(
    "the ledger's consumer to have nothing pending",
    () => ledgerConsumerInfo(env),
    (c) => c.num_pending === 0 && c.num_ack_pending === 0,
    timeoutMs,
  );
}

const sorted = (rows: Array<{ id: string }>) => rows.map((r) => r.id).sort();

/**
 * The reconciliation (O7): each committed order has its event in the outbox, each outbox event (but the
 * excluded) exactly one ledger entry and nothing else has one, and nothing is left unpublished.
 * Returns how many events were handled.
 */
async function assertExactlyOnce(t: ExecutionContext, env: TestEnvironment, exclude: string[] = []) {
  const duplicates = await sql(
    env,
    "select event_id::text as id, count(*)::int as n from ledger.entries group by event_id having count(*) <> 1",
  );
  t.deepEqual(duplicates, [], "events that took effect more than once");

  const outboxIds = sorted(
    await sql(env, "select id::text as id from orders.outbox where not (id = any($1::uuid[]))", [exclude]),
  );
  const handledIds = sorted(await sql(env, "select distinct event_id::text as id from ledger.entries"));
  t.deepEqual(handledIds, outboxIds, "the handled events are not exactly the committed ones");

  // Orders and their events commit together, and each committed order is booked once.
  t.is(await orderCount(env), await count(env, "select count(*)::int as n from orders.outbox"));
  const orderIds = sorted(
    await sql(
      env,
      `select o.id::text as id from orders.orders o
       where not exists (select 1 from orders.outbox x where x.id = any($1::uuid[]) and x.payload->>'orderId' = o.id::text)`,
      [exclude],
    ),
  );
  const bookedOrderIds = sorted(await sql(env, "select order_id::text as id from ledger.entries"));
  t.deepEqual(bookedOrderIds, orderIds, "the booked orders are not exactly the committed ones");

  t.is(await count(env, "select count(*)::int as n from orders.outbox where published_at is null"), 0);
  t.is(
    await count(env, "select count(*)::int as n from ledger.inbox where consumer = 'ledger'"),
    outboxIds.length,
    "one inbox row per handled event",
  );
  return outboxIds.length;
}

async function withJetStream<T>(env: TestEnvironment, work: (jsm: JetStreamManager) => Promise<T>) {
  const nc = await connect({ servers: env.config.nats!.url });
  try {
    return await work(await nc.jetstreamManager());
  } finally {
    await nc.close();
  }
}

const streamMessages = (env: TestEnvironment) =>
  withJetStream(env, async (jsm) => (await jsm.streams.info(env.config.events.stream)).state.messages);

const ledgerConsumerInfo = (env: TestEnvironment) =>
  withJetStream(env, (jsm) => jsm.consumers.info(env.config.events.stream, durableName("ledger", "order.placed")));

function placeAll(broker: moleculer.ServiceBroker, items: string[], opts: moleculer.CallingOptions = {}) {
  return Promise.all(items.map((item) => broker.call("orders.place", { item }, opts) as Promise<Placed>));
}

// ---------------------------------------------------------------------------------------------------------------
// A private nats-server, so a test can kill and restart it without touching the shared one.

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

async function privateNats(t: ExecutionContext) {
  const port = await freePort();
  const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), "hearth-nats-"));
  let proc: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const server = {
    url: `nats://127.0.0.1:${port}`,
    /** Starts it on the same port and store directory; resolves once it accepts connections. */
    async start() {
      proc = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], { stdio: "ignore" });
      const current = proc;
      exited = new Promise((resolve) => current.once("exit", (code, signal) => resolve(code ?? signal)));
      await waitFor(
        `nats-server on ${port}`,
        () => accepts(port),
        (up) => up,
      );
    },
    /** Sends the signal and waits until the process is gone; resolves with its exit code or signal. */
    async stop(signal: NodeJS.Signals) {
      if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  t.teardown(async () => {
    await server.stop("SIGKILL");
    fs.rmSync(storeDir, { recursive: true, force: true });
  });
  await server.start();
  return server;
}

// ---------------------------------------------------------------------------------------------------------------

test("N2: a consumer killed after its commit and before its ack is redelivered, and takes effect once", async (t) => {
  const env = await environment(t, { EVENT_ACK_WAIT_MS: "2000" });
  const broker = await inProcess(t, env, [orders]);
  const doomed = childNode(t, env, [LEDGER], { HEARTH_FAILPOINTS: "consumer.after-commit" });
  await doomed.ready;

  const placed = [];
  for (let i = 0; i < 10; i++) placed.push(await broker.call("orders.place", { item: `n2-${i}` }));
  // The failpoint killed it right after its first commit: that effect is in, unacknowledged.
  t.is(await doomed.exited, "SIGKILL");
  t.true((await handledCount(env)) >= 1, "the killed consumer committed nothing");

  const successor = childNode(t, env, [LEDGER]);
  await successor.ready;
  await settled(env);
  t.is(await assertExactlyOnce(t, env), placed.length);

  // Redelivered after AckWait (what the dead consumer had committed too) and absorbed by the inbox.
  const consumer = await ledgerConsumerInfo(env);
  t.true(consumer.delivered.consumer_seq > placed.length, `only ${consumer.delivered.consumer_seq} deliveries`);
});

test("O2: a relay killed after the PubAck and before marking the rows sent republishes; the duplicate is absorbed", async (t) => {
  const env = await environment(t, { OUTBOX_CLAIM_LEASE_MS: "2000", REQUEST_TIMEOUT_MS: "2000" });
  const broker = await inProcess(t, env, [ledger]);
  const doomed = childNode(t, env, [ORDERS], { HEARTH_FAILPOINTS: "relay.after-publish" });
  await seeNode(broker, doomed, "orders");

  // Its relay dies with the first batch it publishes; answers to orders in flight at that moment may be lost,
  // so what counts as committed is read from the database, not from the replies.
  await Promise.allSettled(
    Array.from({ length: 5 }, (_, i) => broker.call("orders.place", { item: `o2-${i}` }, { nodeID: doomed.nodeID })),
  );
  t.is(await doomed.exited, "SIGKILL");

  // The crash window: rows claimed and acknowledged by JetStream (the ledger gets them) but not marked sent.
  const limbo = sorted(
    await sql(env, "select id::text as id from orders.outbox where published_at is null and attempts = 1"),
  );
  t.true(limbo.length >= 1, "the relay died before claiming anything");
  await waitFor(
    "the ledger to handle the events published before the crash",
    () =>
      count(env, "select count(distinct event_id)::int as n from ledger.entries where event_id = any($1::uuid[])", [
        limbo,
      ]),
    (n) => n === limbo.length,
  );

  const successor = childNode(t, env, [ORDERS]);
  await seeNode(broker, successor, "orders");
  await placeAll(
    broker,
    Array.from({ length: 5 }, (_, i) => `o2-after-${i}`),
    { nodeID: successor.nodeID },
  );
  await settled(env);
  const handled = await assertExactlyOnce(t, env);
  t.true(handled >= limbo.length + 5);

  // Republished once the lease ran out, and JetStream dropped the copy by its Msg-Id (= outbox id).
  const republished = await sql(
    env,
    "select attempts, published_at is not null as published from orders.outbox where id = any($1::uuid[])",
    [limbo],
  );
  t.true(
    republished.every((r) => r.attempts === 2 && r.published),
    JSON.stringify(republished),
  );
  t.is(await streamMessages(env), handled);
});

test("N4: NATS stopped (SIGTERM) and killed (SIGKILL) under load: every committed order is handled once", async (t) => {
  const nats = await privateNats(t);
  const env = await environment(t, { NATS_URL: nats.url, EVENT_ACK_WAIT_MS: "2000" });
  const broker = await inProcess(t, env, [orders]);
  const ledgerNode = childNode(t, env, [LEDGER]);
  await ledgerNode.ready;

  let placing = true;
  const failures: string[] = [];
  const producer = (async () => {
    for (let i = 0; placing; i++) {
      try {
        await broker.call("orders.place", { item: `n4-${i}` });
      } catch (error) {
        failures.push(String(error));
      }
      await pause(20); // pacing only
    }
  })();
  t.teardown(() => {
    placing = false;
    return producer;
  });

  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    const before = await handledCount(env);
    await waitFor(
      "events to flow",
      () => handledCount(env),
      (n) => n >= before + 10,
    );
    t.not(await nats.stop(signal), null);
    // Orders keep committing while NATS is down; they wait in the outbox.
    const atStop = await orderCount(env);
    await waitFor(
      "orders to commit while NATS is down",
      () => orderCount(env),
      (n) => n >= atStop + 15,
    );
    await nats.start();
  }
  const recovered = await handledCount(env);
  await waitFor(
    "events to flow after the restarts",
    () => handledCount(env),
    (n) => n >= recovered + 10,
    60_000,
  );
  placing = false;
  await producer;

  t.deepEqual(failures, [], "placing an order needs only the database");
  await settled(env, [], 60_000);
  t.true((await assertExactlyOnce(t, env)) >= 50);
  t.is(await count(env, "select count(*)::int as n from ledger.dead_letter"), 0, "nothing handled was dead-lettered");
});

test("O5: two relays on one outbox never claim a row twice (200 orders over two nodes)", async (t) => {
  const env = await environment(t, { OUTBOX_POLL_MS: "10" });
  const broker = await inProcess(t, env, [ledger]);
  const nodes = [childNode(t, env, [ORDERS]), childNode(t, env, [ORDERS])];
  for (const node of nodes) await seeNode(broker, node, "orders");

  const batches = 10;
  const perBatch = 20;
  for (let b = 0; b < batches; b++) {
    await Promise.all(
      Array.from({ length: perBatch }, (_, j) => {
        const i = b * perBatch + j;
        return broker.call("orders.place", { item: `o5-${i}` }, { nodeID: nodes[i % 2]!.nodeID });
      }),
    );
  }
  await settled(env);
  t.is(await assertExactlyOnce(t, env), 200);
  // Each row was claimed exactly once (a second claim would add an attempt, even if JetStream then
  // deduplicated the publish), and the stream holds each event once.
  t.deepEqual(await sql(env, "select attempts, count(*)::int as n from orders.outbox group by attempts"), [
    { attempts: 1, n: 200 },
  ]);
  t.is(await streamMessages(env), 200);
});

test("O3/O6: commits out of creation order are all published; rolled-back orders publish nothing", async (t) => {
  const env = await environment(t);
  const broker = await inProcess(t, env, [orders, ledger]);
  const order = fc.record({
    holdMs: fc.integer({ min: 0, max: 1500 }),
    fail: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
  });
  let run = 0;
  let rolledBack = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(order, { minLength: 3, maxLength: 8 }), async (schedule) => {
      const tag = `o3r${run++}`;
      // Started together: a row created first but held longer commits after the ones created after it. (Up to
      // 8 transactions of up to 1.5 s wait for each other's connections: more than the 2 s request timeout on a
      // busy CI machine, which is not what this test is about.)
      const results = await Promise.allSettled(
        schedule.map((o, i) =>
          broker.call("orders.place", { item: `${tag}-${i}`, holdMs: o.holdMs, fail: o.fail }, { timeout: 20_000 }),
        ),
      );
      const outcomes = results.map((r) => r.status === "fulfilled");
      if (outcomes.some((ok, i) => ok === schedule[i]!.fail))
        throw new Error(`unexpected outcomes ${JSON.stringify(results)}`);
      const committed = results.flatMap((r) => (r.status === "fulfilled" ? [(r.value as Placed).eventId] : [])).sort();
      rolledBack += schedule.length - committed.length;

      const like = `${tag}-%`;
      await waitFor(
        `run ${tag} to be handled`,
        () => count(env, "select count(distinct event_id)::int as n from ledger.entries where item like $1", [like]),
        (n) => n >= committed.length,
      );
      const outboxIds = sorted(
        await sql(env, "select id::text as id from orders.outbox where payload->>'item' like $1", [like]),
      );
      const handled = await sql(
        env,
        "select event_id::text as id, count(*)::int as n from ledger.entries where item like $1 group by event_id",
        [like],
      );
      if (JSON.stringify(outboxIds) !== JSON.stringify(committed))
        throw new Error(`outbox ${outboxIds} ≠ committed ${committed}`);
      if (JSON.stringify(sorted(handled)) !== JSON.stringify(committed) || handled.some((r) => r.n !== 1)) {
        throw new Error(`handled ${JSON.stringify(handled)} ≠ committed ${committed}`);
      }
    }),
    { numRuns: 5, endOnFailure: true },
  );
  t.log(`${run} schedules, ${rolledBack} rolled-back orders among them`);

  // One inversion for certain: A's row is created first (its pg_sleep runs, so it has been flushed), then B
  // commits and is delivered while A's transaction is still open; A commits last. A relay that polls "after
  // the last id it published" would skip A for good. Retried with a longer hold if A had already committed.
  const eventsOf = (id: string) =>
    count(env, "select count(*)::int as n from ledger.entries where event_id = $1", [id]);
  let inverted = false;
  for (const holdMs of [2000, 5000, 10_000]) {
    const a = broker.call("orders.place", { item: `inverted-a-${holdMs}`, holdMs }) as Promise<Placed>;
    await waitFor(
      "A to hold its transaction open",
      () =>
        count(
          env,
          "select count(*)::int as n from pg_stat_activity where datname = current_database() and query like 'select pg_sleep(%'",
        ),
      (n) => n >= 1,
    );
    const b = (await broker.call("orders.place", { item: `inverted-b-${holdMs}` })) as Placed;
    await waitFor(
      "B to be handled",
      () => eventsOf(b.eventId),
      (n) => n === 1,
    );
    const aVisible = await count(env, "select count(*)::int as n from orders.outbox where payload->>'item' = $1", [
      `inverted-a-${holdMs}`,
    ]);
    const placedA = await a;
    await waitFor(
      "A, committed after B was delivered, to be handled",
      () => eventsOf(placedA.eventId),
      (n) => n === 1,
    );
    inverted = aVisible === 0;
    if (inverted) break;
  }
  t.true(inverted, "A never committed after B was delivered");

  // And one rollback for certain, held open while another order commits past it.
  const [rolled, next] = await Promise.allSettled([
    broker.call("orders.place", { item: "rolled-back", holdMs: 300, fail: true }),
    broker.call("orders.place", { item: "after-rollback" }),
  ]);
  t.is(rolled.status, "rejected");
  t.regex(String((rolled as PromiseRejectedResult).reason), /failed on purpose/);
  t.is(next.status, "fulfilled");

  await settled(env);
  const handled = await assertExactlyOnce(t, env);
  for (const table of ["orders.orders", "orders.outbox"]) {
    const column = table === "orders.outbox" ? "payload->>'item'" : "item";
    t.is(await count(env, `select count(*)::int as n from ${table} where ${column} = 'rolled-back'`), 0, table);
  }
  t.is(await count(env, "select count(*)::int as n from ledger.entries where item = 'rolled-back'"), 0);
  t.is(await streamMessages(env), handled, "the stream holds exactly the committed events");
});

test("N3: a poison event ends in the dead-letter store after EVENT_MAX_ATTEMPTS while the rest keep flowing", async (t) => {
  const env = await environment(t, { EVENT_MAX_ATTEMPTS: "3" });
  const broker = await inProcess(t, env, [orders, ledger]);

  const items = Array.from({ length: 10 }, (_, i) => `good-${i}`);
  items.splice(5, 0, "poison");
  const placed: Placed[] = [];
  for (const item of items) placed.push((await broker.call("orders.place", { item })) as Placed);
  const poison = placed[5]!.eventId;

  const [dead] = await waitFor(
    "the poison event to be dead-lettered",
    () => sql(env, "select consumer, event_id::text, event, error, attempts from ledger.dead_letter"),
    (rows) => rows.length > 0,
  );
  t.like(dead, { consumer: "ledger", event_id: poison, event: "order.placed", attempts: 3 });
  t.regex(dead.error, /cannot book poison/);

  // Events after it keep flowing.
  placed.push(...(await placeAll(broker, ["late-0", "late-1", "late-2", "late-3", "late-4"])));
  await settled(env, [poison]);
  t.is(await assertExactlyOnce(t, env, [poison]), 15);
  t.is(await count(env, "select count(*)::int as n from ledger.entries where event_id = $1", [poison]), 0);
  t.is(await count(env, "select count(*)::int as n from ledger.inbox where event_id = $1", [poison]), 0);
  t.is(await count(env, "select count(*)::int as n from ledger.dead_letter"), 1);
  // Terminated (settled() waited for no pending acks): JetStream does not redeliver it.
  t.is((await ledgerConsumerInfo(env)).num_ack_pending, 0);
  t.is(await count(env, "select attempts as n from ledger.dead_letter"), 3, "dead-lettered once, not again");
});
