import { fork } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Throttler } from "@hearth/graph-emulator";
import { migrate, openDatabase } from "@hearth/platform";
import { createTestEnvironment, type TestEnvironment } from "@hearth/testkit";
import type { Context, Middleware } from "@microsoft/microsoft-graph-client";
import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { type BudgetOptions, BudgetStore, type Grant, sleepUntil } from "../src/budget.ts";
import { database } from "../src/database.ts";
import { BudgetRetryMiddleware } from "../src/graph-client.ts";
import { pgExecutor } from "./fixtures/pg-executor.ts";

let env: TestEnvironment;
let url: string;

test.before(async () => {
  env = await createTestEnvironment({ nats: false });
  url = env.database!.url;
  const orm = await openDatabase(env.config, database);
  await migrate(orm, database.schema, url);
  await orm.close();
});
test.after.always(() => env?.cleanup());

/**
 * The token bucket's promise, checked on the grants' database times: between any two grants (inclusive) no more
 * was taken than the capacity plus what refilled in between. Grants of reservations lie exactly on that bound, and
 * their times are epoch milliseconds as float8 (about 0.25 µs apart at today's dates), so a refill of 2 µs is
 * allowed as rounding.
 */
function worstExcess(grantsMs: number[], cost: number, capacity: number, ratePerSecond: number): number {
  const times = [...grantsMs].sort((a, b) => a - b);
  let worst = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < times.length; i++) {
    for (let j = i; j < times.length; j++) {
      const taken = (j - i + 1) * cost;
      const allowed = capacity + (ratePerSecond * (times[j] - times[i])) / 1000;
      worst = Math.max(worst, taken - allowed - (ratePerSecond * 2) / 1e6);
    }
  }
  return worst;
}

type TakerReport = { grants: number[]; attempts: number };

function runTaker(vars: Record<string, string>): Promise<TakerReport> {
  const child = fork(path.join(import.meta.dirname, "fixtures", "budget-taker.ts"), [], {
    env: { ...process.env, DATABASE_URL: url, ...vars },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    let report: TakerReport | undefined;
    child.on("message", (m) => {
      report = m as TakerReport;
    });
    child.on("exit", (code) => (report ? resolve(report) : reject(new Error(`taker exited with ${code}`))));
  });
}

test("three replica processes drawing at once never take more than the bucket allows in any window", async (t) => {
  const capacity = 3;
  const rate = 40;
  const vars = {
    TENANT: "tenant-processes",
    LIMIT_CLASS: "teamsInstalledApps",
    CAPACITY: String(capacity),
    RATE: String(rate),
    TAKES: "30",
    CONCURRENCY: "5",
  };
  const started = performance.now();
  const reports = await Promise.all([runTaker(vars), runTaker(vars), runTaker(vars)]);
  const elapsedMs = performance.now() - started;
  const grants = reports.flatMap((r) => r.grants);
  t.is(grants.length, 90);
  t.true(worstExcess(grants, 1, capacity, rate) <= 1e-6, "some window took more than capacity + refill");
  // Not starved either: 87 grants beyond the burst at 40/s take about 2.2 s; allow for process start-up.
  const spanMs = Math.max(...grants) - Math.min(...grants);
  t.true(spanMs >= ((90 - capacity) / rate) * 1000 - 5, `span ${spanMs} ms`);
  t.true(spanMs < ((90 - capacity) / rate) * 1000 * 4, `span ${spanMs} ms: too slow`);
  // Waiting callers sleep until the next token instead of polling: a few attempts per grant, not hundreds.
  const attempts = reports.reduce((n, r) => n + r.attempts, 0);
  t.true(attempts < grants.length * 6, `${attempts} attempts for ${grants.length} grants`);
  t.log(`90 grants by 3 processes in ${Math.round(elapsedMs)} ms, ${attempts} attempts`);
});

test("for any bucket shape, cost and number of replicas, concurrent takers stay inside the bucket", async (t) => {
  let run = 0;
  // fc.assert rejects with the shrunk counterexample when the property fails.
  await t.notThrowsAsync(
    fc.assert(
      fc.asyncProperty(
        fc.record({
          capacity: fc.integer({ min: 2, max: 6 }),
          rate: fc.integer({ min: 30, max: 120 }),
          cost: fc.integer({ min: 1, max: 2 }),
          replicas: fc.integer({ min: 2, max: 3 }),
          perReplica: fc.integer({ min: 5, max: 15 }),
        }),
        async ({ capacity, rate, cost, replicas, perReplica }) => {
          const tenant = `tenant-property-${run++}`;
          const pools = Array.from({ length: replicas }, () => pgExecutor(url, 3));
          try {
            const stores = pools.map(
              (pool) =>
                new BudgetStore({
                  tenant,
                  execute: pool.execute,
                  shapes: { bots: { capacity, refillPerSecond: rate } },
                }),
            );
            const grants = (
              await Promise.all(
                stores.flatMap((store) =>
                  Array.from({ length: 3 }, async () => {
                    const mine: number[] = [];
                    for (let i = 0; i < Math.ceil(perReplica / 3); i++)
                      mine.push((await store.take("bots", cost)).grantedAtMs);
                    return mine;
                  }),
                ),
              )
            ).flat();
            return worstExcess(grants, cost, capacity, rate) <= 1e-6;
          } finally {
            await Promise.all(pools.map((p) => p.end()));
          }
        },
      ),
      { numRuns: 6 },
    ),
  );
});

test("a saturated bucket grants on its own clock: a slow asker does not lower the rate (reservations)", async (t) => {
  const a = pgExecutor(url, 2);
  t.teardown(() => a.end());
  // Every statement takes 15 ms longer, as on a busy database: a plain bucket of capacity 1 would lose that much
  // on each grant (the token sits full until the next ask).
  const slow: typeof a.execute = async (sql, params) => {
    await sleep(15);
    return a.execute(sql, params);
  };
  const store = new BudgetStore({
    tenant: "tenant-reservations",
    execute: slow,
    shapes: { teamsBulkActivity: { capacity: 1, refillPerSecond: 20 } },
  });
  const grants: number[] = [];
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      for (let i = 0; i < 7; i++) grants.push((await store.take("teamsBulkActivity")).grantedAtMs);
    }),
  );
  grants.sort((x, y) => x - y);
  const gaps = grants.slice(1).map((g, i) => g - grants[i]!);
  t.true(
    gaps.every((g) => g >= 50 - 0.01),
    `never closer than 1/rate: ${gaps.map((g) => g.toFixed(2))}`,
  );
  const median = [...gaps].sort((x, y) => x - y)[Math.floor(gaps.length / 2)]!;
  t.true(median < 51, `grants follow one another at 1/rate, not 1/rate + the ask: median gap ${median.toFixed(2)} ms`);
});

test("a pause keeps an open reservation's debt: the first grant after it waits for the debt too", async (t) => {
  const a = pgExecutor(url, 2);
  t.teardown(() => a.end());
  const store = new BudgetStore({
    tenant: "tenant-pause-debt",
    execute: a.execute,
    shapes: { teamsBulkActivity: { capacity: 1, refillPerSecond: 2 } },
  });
  const first = await store.take("teamsBulkActivity");
  // The bucket is empty: this one reserves the next slot, 500 ms later, in the database, and then sleeps.
  const reserved = store.tryTake("teamsBulkActivity", 1);
  const r = await reserved;
  t.true(r.granted && r.atMs - first.grantedAtMs >= 499, "a reservation half a second ahead");
  // A 429 now: the pause (200 ms) ends before the reservation's time; the next grant still comes after the debt.
  await store.pause("teamsBulkActivity", 200);
  const next = await store.take("teamsBulkActivity");
  t.true(r.granted && next.grantedAtMs - r.atMs >= 499, `${next.grantedAtMs - (r.granted ? r.atMs : 0)} ms after`);
});

test("a 429 seen by one replica pauses the class for every replica, and only that class", async (t) => {
  const a = pgExecutor(url, 2);
  const b = pgExecutor(url, 2);
  t.teardown(() => Promise.all([a.end(), b.end()]));
  const replicaA = new BudgetStore({ tenant: "tenant-pause", execute: a.execute });
  const replicaB = new BudgetStore({ tenant: "tenant-pause", execute: b.execute });
  await replicaB.take("teamsCreate");
  await replicaA.pause("teamsCreate", 800);
  const started = performance.now();
  const other = await replicaB.take("bots");
  t.true(other.waitedMs < 400, "another class is not paused");
  await replicaB.take("teamsCreate");
  const waited = performance.now() - started;
  t.true(waited >= 780, `B waited only ${Math.round(waited)} ms`);
  t.true(waited < 2500, `B waited ${Math.round(waited)} ms`);
  // A second, shorter pause never shortens a longer one.
  await replicaA.pause("teamsCreate", 600);
  await replicaA.pause("teamsCreate", 100);
  const again = performance.now();
  await replicaB.take("teamsCreate");
  t.true(performance.now() - again >= 580);
});

test("takeEach charges many scopes at once; a scope that is short or paused waits for its own refill", async (t) => {
  const a = pgExecutor(url, 2);
  t.teardown(() => a.end());
  const store = new BudgetStore({
    tenant: "tenant-each",
    execute: a.execute,
    shapes: { outlookMailbox: { capacity: 2, refillPerSecond: 4 } },
  });
  const tokens = async (scope: string) => {
    const [row] = await a.execute(
      `select tokens::float8 as tokens from m365.budget where tenant = 'tenant-each' and scope = ?`,
      [scope],
    );
    return Number(row?.tokens);
  };
  // Fresh buckets are created full and charged in one go; a scope named twice is charged twice.
  await store.takeEach("outlookMailbox", ["m1", "m2", "m2"]);
  t.true((await tokens("m1")) < 1.5 && (await tokens("m1")) >= 1);
  t.true((await tokens("m2")) < 0.5);
  // m2 is empty now: taking it again waits for its refill (≥ 1/4 s), while m3 is charged at once.
  await store.pause("outlookMailbox", 400, "m2");
  const started = performance.now();
  await store.takeEach("outlookMailbox", ["m2", "m3"]);
  const waited = performance.now() - started;
  t.true(waited >= 380, `waited only ${Math.round(waited)} ms for a paused mailbox`);
  t.true((await tokens("m3")) < 1.5);
});

test("idle per-mailbox buckets are swept once full again; busy, paused and app-wide ones stay", async (t) => {
  const a = pgExecutor(url, 2);
  t.teardown(() => a.end());
  const store = new BudgetStore({
    tenant: "tenant-sweep",
    execute: a.execute,
    // Full again 0.2 s after the last take.
    shapes: {
      outlookMailbox: { capacity: 2, refillPerSecond: 10 },
      identityRead: { capacity: 2, refillPerSecond: 10 },
    },
  });
  await store.takeEach("outlookMailbox", ["idle-1", "idle-2", "busy", "paused"]);
  await store.take("identityRead");
  // A per-team send window with a send a moment ago: its bucket looks idle, its window is not.
  const teams = new BudgetStore({
    tenant: "tenant-sweep",
    execute: a.execute,
    windows: { teamsPerTeam: { limit: 4, periodMs: 50 } },
  });
  const sent = await teams.take("teamsPerTeam", 1, "team-1");
  await teams.settle(sent.slot!, { counted: true, sentAt: 0, answeredAt: 1 });
  await store.pause("outlookMailbox", 5_000, "paused");
  await sleep(1_200);
  await store.take("outlookMailbox", 2, "busy");
  t.is(await store.sweepIdleScopes(), 2);
  const left = await a.execute(`select scope from m365.budget where tenant = 'tenant-sweep' order by scope`, []);
  t.deepEqual(
    left.map((r) => r.scope),
    ["", "busy", "paused", "team-1"],
  );
  // A swept mailbox gets a new, full bucket on its next take.
  await store.takeEach("outlookMailbox", ["idle-1"]);
  await store.take("outlookMailbox", 1, "idle-2");
  t.is((await a.execute(`select count(*)::int as n from m365.budget where tenant = 'tenant-sweep'`, []))[0]!.n, 6);
});

test("a bucket in debt (a reservation) is not swept until it has refilled its debt too", async (t) => {
  const a = pgExecutor(url, 1);
  t.teardown(() => a.end());
  const store = new BudgetStore({ tenant: "tenant-debt", execute: a.execute });
  // Capacity 2 at 0.1 a second, both last charged 30 s ago: the empty one is full again since 10 s, the one that
  // owes 2 will be in 10 s (wide margins: the statements may be slow on a busy machine).
  const bucket = (scope: string, tokens: number) =>
    a.execute(
      `insert into m365.budget (tenant, limit_class, scope, tokens, capacity, refill_per_second, refilled_at)
       values ('tenant-debt', 'outlookMailbox', ?, ?, 2, 0.1, clock_timestamp() - interval '30 seconds')`,
      [scope, tokens],
    );
  await bucket("owing", -2);
  await bucket("empty", 0);
  t.is(await store.sweepIdleScopes(), 1);
  t.deepEqual(
    (await a.execute(`select scope from m365.budget where tenant = 'tenant-debt'`, [])).map((r) => r.scope),
    ["owing"],
  );
});

/** A store on a pool of its own whose statements are watched: each one's first word, and the errors. */
function watchedStore(t: ExecutionContext, tenant: string, poolSize: number, shapes: BudgetOptions["shapes"]) {
  const a = pgExecutor(url, poolSize);
  t.teardown(() => a.end());
  const statements: string[] = [];
  const errors: string[] = [];
  const store = new BudgetStore({
    tenant,
    shapes,
    execute: (sql, params) => {
      statements.push(sql.trim().split(/\s+/)[0]!);
      return a.execute(sql, params).catch((error: Error) => {
        errors.push(error.message);
        throw error;
      });
    },
  });
  return { store, statements, errors, execute: a.execute };
}

test("two calls charging the same mailboxes in opposite orders at once do not deadlock", async (t) => {
  const { store, errors } = watchedStore(t, "tenant-order", 8, {
    outlookMailbox: { capacity: 1000, refillPerSecond: 1000 },
  });
  const mailboxes = Array.from({ length: 200 }, (_, i) => `mailbox-${i}`);
  for (let round = 0; round < 5; round++) {
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.takeEach("outlookMailbox", i % 2 === 0 ? mailboxes : [...mailboxes].reverse()),
      ),
    );
  }
  t.deepEqual(errors, []);
});

test("a cost that can never fit the bucket fails instead of waiting forever", async (t) => {
  const a = pgExecutor(url, 1);
  t.teardown(() => a.end());
  const store = new BudgetStore({
    tenant: "tenant-too-big",
    execute: a.execute,
    shapes: { teamsBulkActivity: { capacity: 1, refillPerSecond: 1.8 } },
  });
  await t.throwsAsync(store.take("teamsBulkActivity", 2), { message: /can never fit/ });
});

test("the default budgets stay at or under 90 % of Microsoft's published rates in any period", (t) => {
  const store = new BudgetStore({ tenant: "x", execute: async () => [] });
  // identity reads: 8000 units per 10 s
  const identity = store.shapeOf("identityRead");
  t.true(identity.capacity + identity.refillPerSecond * 10 <= 8000 * 0.9 + 1e-9);
  // bulk activity feed: 2 requests per second; requests are whole, so floor(capacity + rate) must be ≤ 2
  const bulk = store.shapeOf("teamsBulkActivity");
  t.true(Math.floor(bulk.capacity + bulk.refillPerSecond) <= 2);
  t.true(bulk.capacity >= 1);
  const bots = store.shapeOf("bots");
  t.true(bots.capacity + bots.refillPerSecond <= 45 + 1e-9);
  void sleep;
});

/** Graph for the test below: the emulator's throttle (windows of its own), reached after a network delay. */
class ThrottledGraph implements Middleware {
  readonly sends: Array<{ at: number; admitted: boolean }> = [];
  private readonly throttler: Throttler;
  private readonly delayMs: () => number;
  constructor(throttler: Throttler, delayMs: () => number) {
    this.throttler = throttler;
    this.delayMs = delayMs;
  }
  async execute(context: Context) {
    const send = { at: performance.now(), admitted: false };
    this.sends.push(send);
    await sleep(this.delayMs());
    const admission = this.throttler.admit("app", "teamsBulkActivityNotification", "tenant");
    send.admitted = admission.ok;
    // A 429 takes its time to come back: the budget must count that time too (the retry goes later than granted).
    if (!admission.ok) await sleep(60);
    context.response = admission.ok
      ? new Response(null, { status: 202 })
      : new Response(JSON.stringify({ error: { code: "TooManyRequests" } }), {
          status: 429,
          headers: { "Retry-After": String(admission.retryAfterSeconds) },
        });
  }
}

test.serial(
  "three replicas against a real throttle: every call goes through and no window of Graph's gets more than its limit from us",
  async (t) => {
    // Microsoft's 2 bulk calls per second on a clock scaled by 2.5 (windows of 400 ms), the budget at 90 % (44 ms
    // between the third call and the end of the first one's window: room for our timers on a busy machine).
    const periodMs = 400;
    const throttler = new Throttler(true, 1000 / periodMs);
    const pools = Array.from({ length: 3 }, () => pgExecutor(url, 3));
    t.teardown(() => Promise.all(pools.map((p) => p.end())));
    // The network: 0–3 ms (a 429 60 ms more on its way back), and every 7th call of a replica 80 ms late — its window opens late and the next call
    // arrives in it too early: Graph answers 429 and the budget must absorb that without a burst.
    const graphs = pools.map((_, r) => {
      let n = 0;
      return new ThrottledGraph(throttler, () => (++n % 7 === r ? 80 : Math.random() * 3));
    });
    const middlewares = pools.map((pool, r) => {
      const budgets = new BudgetStore({
        tenant: "tenant-real-throttle",
        execute: pool.execute,
        shapes: { teamsBulkActivity: { capacity: 1, refillPerSecond: (2 * 0.9 * 1000) / periodMs } },
      });
      const middleware = new BudgetRetryMiddleware(budgets, 6);
      middleware.setNext(graphs[r]!);
      return middleware;
    });
    // Another client of the same app has just used this window (a script, a replica on an older version): the first
    // call is refused whatever the timing, so the retry path runs in every run, not only when a late call hits it.
    for (let i = 0; i < 2; i++) throttler.admit("app", "teamsBulkActivityNotification", "tenant");
    const statuses = await Promise.all(
      middlewares.flatMap((middleware) =>
        Array.from({ length: 8 }, async () => {
          const context: Context = {
            request: "https://graph.example/v1.0/teamwork/sendActivityNotificationToRecipients",
            options: { method: "POST" },
          };
          await middleware.execute(context);
          return context.response!.status;
        }),
      ),
    );
    t.deepEqual(new Set(statuses), new Set([202]), "every call accepted in the end");
    const sends = graphs.flatMap((g) => g.sends);
    const throttled = sends.filter((s) => !s.admitted).length;
    t.log(`${sends.length} sends for 24 calls, ${throttled} answered 429`);
    t.true(throttled >= 1, "Graph throttled (the retry path was exercised)");
    t.true(throttled <= 8, `${throttled} 429s: each throttle must not set off more`);
    // What Hearth sent and Graph counted, at the moments Hearth sent it: never 3 inside any 400 ms (a sliding window,
    // stricter than Graph's own). The throttled sends are not counted by Graph; their retries are.
    const counted = sends
      .filter((s) => s.admitted)
      .map((s) => s.at)
      .sort((a, b) => a - b);
    t.is(counted.length, 24);
    for (let i = 0; i + 2 < counted.length; i++) {
      const span = counted[i + 2]! - counted[i]!;
      t.true(span >= periodMs, `three calls within ${span.toFixed(1)} ms`);
    }
  },
);

/** Graph behind a network whose delays (there and back) are drawn per request: arrivals are what Graph counts. */
class LaggyGraph implements Middleware {
  readonly arrivals: Array<{ at: number; admitted: boolean }> = [];
  private readonly throttler: Throttler;
  private readonly there: () => number;
  private readonly back: () => number;
  /** Calls another client of the app makes just before our first one arrives (they fill Graph's window). */
  private othersFirst: number;
  constructor(throttler: Throttler, there: () => number, back: () => number, othersFirst = 0) {
    this.throttler = throttler;
    this.there = there;
    this.back = back;
    this.othersFirst = othersFirst;
  }
  async execute(context: Context) {
    await sleep(this.there());
    for (; this.othersFirst > 0; this.othersFirst--)
      this.throttler.admit("app", "teamsBulkActivityNotification", "tenant");
    const admission = this.throttler.admit("app", "teamsBulkActivityNotification", "tenant");
    this.arrivals.push({ at: performance.now(), admitted: admission.ok });
    await sleep(this.back());
    context.response = admission.ok
      ? new Response(null, { status: 202 })
      : new Response(JSON.stringify({ error: { code: "TooManyRequests" } }), {
          status: 429,
          headers: { "Retry-After": String(admission.retryAfterSeconds) },
        });
  }
}

/** A store whose bulk feed is kept by a send window of `limit` per `periodMs` (one replica's view). */
function bulkWindowStore(tenant: string, execute: BudgetOptions["execute"], periodMs: number, limit = 2) {
  return new BudgetStore({ tenant, execute, windows: { teamsBulkActivity: { limit, periodMs } } });
}

function windowReplicas(tenant: string, periodMs: number, count: number, graphFor: (replica: number) => Middleware) {
  const pools = Array.from({ length: count }, () => pgExecutor(url, 3));
  const middlewares = pools.map((pool, r) => {
    const budgets = bulkWindowStore(tenant, pool.execute, periodMs);
    const middleware = new BudgetRetryMiddleware(budgets, 6);
    middleware.setNext(graphFor(r));
    return middleware;
  });
  const send = async (middleware: BudgetRetryMiddleware) => {
    const context: Context = {
      request: "https://graph.example/v1.0/teamwork/sendActivityNotificationToRecipients",
      options: { method: "POST" },
    };
    await middleware.execute(context);
    return context.response!.status;
  };
  return { pools, middlewares, send };
}

test.serial(
  "a window class: three replicas on a jittery network never get a 429, and no period holds more than the limit",
  async (t) => {
    // 2 calls per 60 ms window; each way 3 ms at least (the wire) and up to 12 ms more, drawn per request (a late
    // first call would have set off 429s for a rate-based budget at any share below ~0.8). The window waits for the
    // answers instead.
    const periodMs = 60;
    const throttler = new Throttler(true, 1000 / periodMs);
    const graph = new LaggyGraph(
      throttler,
      () => 3 + Math.random() * 12,
      () => 3 + Math.random() * 12,
    );
    const { pools, middlewares, send } = windowReplicas("tenant-window", periodMs, 3, () => graph);
    t.teardown(() => Promise.all(pools.map((p) => p.end())));
    const statuses = await Promise.all(middlewares.flatMap((m) => Array.from({ length: 8 }, () => send(m))));
    t.deepEqual(new Set(statuses), new Set([202]));
    t.is(graph.arrivals.filter((a) => !a.admitted).length, 0, "Graph answered 429");
    const at = graph.arrivals.map((a) => a.at).sort((a, b) => a - b);
    t.is(at.length, 24);
    for (let i = 0; i + 2 < at.length; i++) {
      const span = at[i + 2]! - at[i]!;
      t.true(span >= periodMs, `three arrivals within ${span.toFixed(1)} ms`);
    }
  },
);

test.serial(
  "a window class: a 429 all the same (another client of the app) is absorbed: the refused send counts as never arrived, and its retry goes after Retry-After",
  async (t) => {
    const periodMs = 100;
    const throttler = new Throttler(true, 1000 / periodMs);
    // Graph's window is full when our first call arrives: it is refused whatever our own window says.
    const graph = new LaggyGraph(
      throttler,
      () => 1,
      () => 1,
      2,
    );
    const { pools, middlewares, send } = windowReplicas("tenant-window-429", periodMs, 2, () => graph);
    t.teardown(() => Promise.all(pools.map((p) => p.end())));
    const statuses = await Promise.all(middlewares.flatMap((m) => Array.from({ length: 4 }, () => send(m))));
    t.deepEqual(new Set(statuses), new Set([202]), "every call accepted in the end");
    const refused = graph.arrivals.filter((a) => !a.admitted).length;
    t.true(refused >= 1 && refused <= 4, `${refused} 429s`);
    const at = graph.arrivals
      .filter((a) => a.admitted)
      .map((a) => a.at)
      .sort((a, b) => a - b);
    t.is(at.length, 8);
    // (After a 429 the retries follow Graph's window, the Retry-After, not answers of ours: Graph's fixed window then
    // decides, and it may admit the next window's first calls sooner than a period after our last.)
  },
);

test.serial(
  "a window class: a send never settled (its replica died mid-call) holds its place only for the in-flight limit",
  async (t) => {
    const pool = pgExecutor(url, 2);
    t.teardown(() => pool.end());
    const periodMs = 20;
    const budgets = bulkWindowStore("tenant-window-dead", pool.execute, periodMs, 1);
    const lost = await budgets.take("teamsBulkActivity");
    t.truthy(lost.slot);
    // Another replica (a store of its own) finds the dead one's send in flight: it waits, then counts it as arrived
    // 1 s (the in-flight limit: 10 periods, at least 1 s) after its grant.
    const other = bulkWindowStore("tenant-window-dead", pool.execute, periodMs, 1);
    const next = await other.take("teamsBulkActivity");
    t.true(next.grantedAtMs - lost.grantedAtMs >= 1000 + periodMs - 1, `${next.grantedAtMs - lost.grantedAtMs} ms`);
    await other.settle(next.slot!, { counted: true, sentAt: 0, answeredAt: 1 });
  },
);

test.serial(
  "sleepUntil never returns before its time, even for a timer set late in a busy turn of the event loop",
  async (t) => {
    // Node's timers count from the loop's cached time: after 2 ms of work a 4 ms timer fires about 2 ms early.
    let early = 0;
    for (let i = 0; i < 40; i++) {
      const busyUntil = performance.now() + 2;
      while (performance.now() < busyUntil);
      const target = performance.now() + 3 + Math.random() * 2;
      await sleepUntil(target);
      if (performance.now() < target) early++;
    }
    t.is(early, 0);
  },
);

test.serial(
  "a window class: a send whose gate was answered first is not held behind one whose gate is answered later",
  async (t) => {
    const pool = pgExecutor(url, 3);
    t.teardown(() => pool.end());
    const periodMs = 300;
    const budgets = bulkWindowStore("tenant-window-order", pool.execute, periodMs);
    const a = await budgets.take("teamsBulkActivity");
    const b = await budgets.take("teamsBulkActivity");
    const answered = (at: number) => ({ counted: true, sentAt: at - 2, answeredAt: at });
    await budgets.settle(b.slot!, answered(performance.now()));
    // c's gate is a (still in flight), d's is b (answered): d may go a period after b's answer, c only a period
    // after a's, which comes 150 ms later. d used to wait in line until c had been sent.
    const order: string[] = [];
    const noted = (name: string) => (grant: Grant) => {
      order.push(name);
      return grant;
    };
    const c = budgets.take("teamsBulkActivity").then(noted("c"));
    const d = budgets.take("teamsBulkActivity").then(noted("d"));
    await sleep(150);
    await budgets.settle(a.slot!, answered(performance.now()));
    const [gc, gd] = await Promise.all([c, d]);
    t.deepEqual(order, ["d", "c"]);
    t.true(gd.grantedAtMs < gc.grantedAtMs);
    for (const g of [gc, gd]) await budgets.settle(g.slot!, answered(performance.now()));
  },
);

test.serial(
  "a window class: a send given back keeps its place, so a later send granted earlier cannot share a period with two others",
  async (t) => {
    const pool = pgExecutor(url, 3);
    t.teardown(() => pool.end());
    const periodMs = 300;
    const tenant = "tenant-window-give-back";
    const budgets = bulkWindowStore(tenant, pool.execute, periodMs);
    const answered = (at: number) => ({ counted: true, sentAt: at - 2, answeredAt: at });
    const a = await budgets.take("teamsBulkActivity");
    const b = await budgets.take("teamsBulkActivity");
    await budgets.settle(b.slot!, answered(performance.now()));
    await sleep(150);
    await budgets.settle(a.slot!, answered(performance.now()));
    const [row] = await pool.execute(
      "select sends from m365.budget where tenant = ? and limit_class = 'teamsBulkActivity' and scope = ''",
      [tenant],
    );
    const boundOfA = (row!.sends as Array<{ id: string; bound?: number }>).find((s) => s.id === a.slot!.id)?.bound;
    // c's gate is a, d's is b: d goes a period after b's answer, c a period after a's, 150 ms later.
    const abort = new AbortController();
    const c = budgets.take("teamsBulkActivity", 1, "", abort.signal);
    const gd = await budgets.take("teamsBulkActivity");
    // c is given back while it sleeps towards its time. Had it left the window, e's gate would be b (two places
    // back in a, b, d) and e would go with d, a period after b: a (arrived as late as its bound), d and e in one
    // period.
    abort.abort();
    await t.throwsAsync(c);
    const ge = await budgets.take("teamsBulkActivity");
    t.truthy(boundOfA);
    t.true(ge.grantedAtMs >= boundOfA! + periodMs, `e ${(ge.grantedAtMs - boundOfA!).toFixed(1)} ms after a's bound`);
    for (const g of [gd, ge]) await budgets.settle(g.slot!, answered(performance.now()));
  },
);

test("takeEach is one statement for new and known mailboxes alike: a new bucket is created already charged", async (t) => {
  const { store, statements, execute } = watchedStore(t, "tenant-upsert", 2, {
    outlookMailbox: { capacity: 10, refillPerSecond: 0.001 },
  });
  const mailboxes = (from: number, count: number) => Array.from({ length: count }, (_, i) => `mailbox-${from + i}`);
  // 100 new mailboxes, then 50 of them again with 50 new ones: one statement each time, every bucket written once.
  await store.takeEach("outlookMailbox", mailboxes(0, 100));
  await store.takeEach("outlookMailbox", mailboxes(50, 100));
  t.deepEqual(statements, ["insert", "insert"]);
  const rows = await execute(
    `select round(tokens)::int as tokens, count(*)::int as n from m365.budget where tenant = 'tenant-upsert'
     group by 1 order by 1`,
    [],
  );
  t.deepEqual(
    rows.map((r) => [r.tokens, r.n]),
    [
      [8, 50],
      [9, 100],
    ],
  );
});
