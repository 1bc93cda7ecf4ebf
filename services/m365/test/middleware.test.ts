// The budget/retry middleware between the token and fetch: a stub in place of fetch answers what each test needs.

import { migrate, openDatabase } from "@hearth/platform";
import { createTestEnvironment, type TestEnvironment } from "@hearth/testkit";
import type { Context, Middleware } from "@microsoft/microsoft-graph-client";
import test from "ava";
import moleculer from "moleculer";
import { BudgetStore } from "../src/budget.ts";
import { database } from "../src/database.ts";
import { BudgetRetryMiddleware, FreshTokenCredential } from "../src/graph-client.ts";
import { METRIC, m365Metrics } from "../src/m365.service.ts";
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

class StubFetch implements Middleware {
  readonly seen: Array<{ url: string; at: number }> = [];
  private readonly answers: Array<() => Response>;
  constructor(answers: Array<() => Response>) {
    this.answers = answers;
  }
  async execute(context: Context) {
    this.seen.push({ url: String(context.request), at: performance.now() });
    context.response = (this.answers.shift() ?? (() => new Response("{}", { status: 200 })))();
  }
}

async function harness(t: import("ava").ExecutionContext, answers: Array<() => Response>, maxAttempts = 4) {
  const db = pgExecutor(url, 2);
  const broker = new moleculer.ServiceBroker({ logger: false, metrics: { enabled: true, reporter: [] } });
  t.teardown(() => db.end());
  const metrics = m365Metrics(broker);
  const budgets = new BudgetStore({
    tenant: `t-${t.title.length}-${Math.random()}`,
    execute: db.execute,
    observer: metrics.budget,
  });
  const stub = new StubFetch(answers);
  const middleware = new BudgetRetryMiddleware(budgets, maxAttempts, metrics.graph);
  middleware.setNext(stub);
  const send = async (path: string, method = "GET") => {
    const context: Context = { request: `https://graph.example/v1.0${path}`, options: { method } };
    await middleware.execute(context);
    return context.response!;
  };
  const count = (name: string, labels: Record<string, string>) =>
    (broker.metrics.getMetric(name)?.get(labels) as { value?: number; count?: number } | null) ?? null;
  return { stub, send, budgets, broker, count, db };
}

const throttled = (retryAfter?: string) => () =>
  new Response(JSON.stringify({ error: { code: "TooManyRequests" } }), {
    status: 429,
    headers: retryAfter ? { "Retry-After": retryAfter } : {},
  });

test("a 429 is retried after its Retry-After, the class is paused meanwhile, and the metrics count it", async (t) => {
  const h = await harness(t, [throttled("0.5")]);
  const started = performance.now();
  const response = await h.send("/users/delta");
  t.is(response.status, 200);
  t.is(h.stub.seen.length, 2);
  t.true(h.stub.seen[1].at - h.stub.seen[0].at >= 490, "waited the full Retry-After");
  t.true(performance.now() - started < 4000);
  const paused = await h.db.execute(
    "select paused_until > now() - interval '1 minute' as paused from m365.budget where tenant = ? and limit_class = 'identityRead'",
    [h.budgets.tenant],
  );
  t.true(paused[0].paused);
  t.is(h.count(METRIC.requests, { class: "identityRead" })?.value, 2);
  t.is(h.count(METRIC.throttled, { class: "identityRead", status: "429" })?.value, 1);
  t.is(h.count(METRIC.pauses, { class: "identityRead" })?.value, 1);
  // The retry keeps its grant (Graph did not count the throttled request): one take, not two.
  t.is(h.count(METRIC.wait, { class: "identityRead" })?.count, 1, "one budget take for the request and its retry");
});

test("a throttled request keeps its grant, and the class's limit still holds over the sends Graph admits", async (t) => {
  // The bulk feed's 2 calls per second at 90 %: grants 556 ms apart. The first call is throttled for 300 ms while
  // the second already holds the next slot.
  const h = await harness(t, [throttled("0.3")]);
  const shapes = { teamsBulkActivity: { capacity: 1, refillPerSecond: 1.8 } };
  const budgets = new BudgetStore({ tenant: `keep-${Math.random()}`, execute: h.db.execute, shapes });
  const middleware = new BudgetRetryMiddleware(budgets, 4);
  middleware.setNext(h.stub);
  const send = async () => {
    const context: Context = {
      request: "https://graph.example/v1.0/teamwork/sendActivityNotificationToRecipients",
      options: { method: "POST" },
    };
    await middleware.execute(context);
    return context.response!;
  };
  const calls = [send()];
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    calls.push(send());
  }
  for (const response of await Promise.all(calls)) t.is(response.status, 200);
  t.is(h.stub.seen.length, 5);
  const [throttledAt, ...admitted] = h.stub.seen.map((s) => s.at);
  const retriedAt = Math.min(...admitted);
  t.true(retriedAt - throttledAt! >= 295, "the retry waited the full Retry-After");
  t.true(retriedAt - throttledAt! < 450, "the retry did not wait for a new grant");
  // Graph's limit (2 in any second) over the four admitted sends: any three of them span more than a second.
  admitted.sort((a, b) => a - b);
  for (let i = 0; i + 2 < admitted.length; i++) {
    t.true(admitted[i + 2]! - admitted[i]! >= 1000, `three sends in ${Math.round(admitted[i + 2]! - admitted[i]!)} ms`);
  }
});

test("a 503 without Retry-After backs off and retries without pausing the class", async (t) => {
  const h = await harness(t, [() => new Response("", { status: 503 })]);
  const response = await h.send("/users/delta");
  t.is(response.status, 200);
  t.is(h.stub.seen.length, 2);
  const rows = await h.db.execute(
    "select paused_until from m365.budget where tenant = ? and limit_class = 'identityRead'",
    [h.budgets.tenant],
  );
  t.is(rows[0].paused_until, null);
});

test("throttled past the last attempt, the 429 is handed back to the caller", async (t) => {
  const h = await harness(t, [throttled("0.05"), throttled("0.05"), throttled("0.05")], 3);
  const response = await h.send("/users/delta");
  t.is(response.status, 429);
  t.is(h.stub.seen.length, 3);
});

test("other errors are not retried, and $batch draws on no budget", async (t) => {
  const h = await harness(t, [() => new Response("{}", { status: 403 }), () => new Response("{}", { status: 200 })]);
  t.is((await h.send("/users/delta")).status, 403);
  t.is(h.stub.seen.length, 1);
  await h.send("/$batch", "POST");
  t.is(h.count(METRIC.requests, { class: "none" })?.value, 1);
  const rows = await h.db.execute("select limit_class from m365.budget where tenant = ?", [h.budgets.tenant]);
  t.deepEqual(
    rows.map((r) => r.limit_class),
    ["identityRead"],
  );
});

test("an Outlook 429 pauses that mailbox only", async (t) => {
  const a = "0b7f3a52-6f1e-4f0c-9d55-2b1c4a0e9d11";
  const b = "5a1d2c3b-0e9f-4a8b-9c7d-6e5f4a3b2c1d";
  const h = await harness(t, [throttled("1.5")]);
  const first = h.send(`/users/${a}/mailboxSettings`);
  await new Promise((r) => setTimeout(r, 100));
  await h.send(`/users/${b}/mailboxSettings`);
  await first;
  // Another mailbox is not held up: b went out while a waited for its Retry-After (1.5 s).
  t.deepEqual(
    h.stub.seen.map((s) => (s.url.includes(a) ? "a" : "b")),
    ["a", "b", "a"],
  );
  const rows = await h.db.execute(
    "select scope, paused_until is not null as paused from m365.budget where tenant = ? order by scope",
    [h.budgets.tenant],
  );
  t.deepEqual(
    rows.map((r) => [r.scope, r.paused]),
    [
      [a, true],
      [b, false],
    ],
  );
});

test("callers asking for the app token at once share one request to Entra ID", async (t) => {
  let asked = 0;
  const inner = {
    async getToken() {
      asked++;
      await new Promise((r) => setTimeout(r, 20));
      return { token: `t${asked}`, expiresOnTimestamp: Date.now() + 3600_000 };
    },
  };
  const credential = new FreshTokenCredential(() => inner);
  const tokens = await Promise.all(
    Array.from({ length: 8 }, () => credential.getToken("https://graph.microsoft.com/.default")),
  );
  t.is(asked, 1);
  t.deepEqual(new Set(tokens.map((x) => x?.token)), new Set(["t1"]));
  // Once answered, the next caller asks again (MSAL's cache answers it in real life).
  await credential.getToken("https://graph.microsoft.com/.default");
  t.is(asked, 2);
});

test("a window class: Graph's answer reaches the caller even when its send cannot be recorded", async (t) => {
  const db = pgExecutor(url, 2);
  t.teardown(() => db.end());
  let failSettle = true;
  const budgets = new BudgetStore({
    tenant: `t-settle-${Math.random()}`,
    // PostgreSQL goes away between the grant and the answer: the settle statement fails.
    execute: async (sql, params) => {
      if (failSettle && sql.includes("jsonb_build_object('bound'")) throw new Error("connection terminated");
      return db.execute(sql, params);
    },
    windows: { teamsBulkActivity: { limit: 2, periodMs: 50 } },
  });
  const stub = new StubFetch([() => new Response(null, { status: 202 })]);
  const middleware = new BudgetRetryMiddleware(budgets, 4);
  middleware.setNext(stub);
  const context: Context = {
    request: "https://graph.example/v1.0/teamwork/sendActivityNotificationToRecipients",
    options: { method: "POST" },
  };
  await middleware.execute(context);
  t.is(context.response!.status, 202);
  failSettle = false;
});
