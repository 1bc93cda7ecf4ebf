// Replicas that go away in the middle of a sync, over NATS: a people replica killed -9 (the next one resumes from the
// last committed page once the dead one's lease has run out; the people service runs in a child process), and an m365
// replica that leaves or hangs while it holds the next page (people asks another).
import path from "node:path";
import { DEV_TENANT_ID } from "@hearth/platform";
import { createTestEnvironment, query, spawnNode, startBroker } from "@hearth/testkit";
import test, { type ExecutionContext } from "ava";
import { createPeopleService } from "../src/people.service.ts";
import { FakeDirectory, fakeM365Service } from "./fixtures/fake-m365.ts";
import { mailboxSettingsSettled } from "./helpers.ts";

const PEOPLE_SERVICE = path.join(import.meta.dirname, "..", "src", "people.service.ts");
const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

async function until(what: string, probe: () => boolean | Promise<boolean>, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A database and NATS of the test's own, and a directory of ten people. */
async function tenantOfTen(t: ExecutionContext) {
  const env = await createTestEnvironment();
  t.teardown(() => env.cleanup());
  const sql = (text: string) => query(env.database!.url, text);
  const directory = new FakeDirectory();
  for (let n = 1; n <= 10; n++) {
    directory.upsert({ id: id(n), displayName: `Person ${n}`, employeeHireDate: "2024-01-01", managerId: null });
  }
  return { env, sql, directory };
}

test("kill -9 between pages: the sync resumes on another replica, nothing lost or doubled", async (t) => {
  const { env, sql, directory } = await tenantOfTen(t);
  let open!: () => void;
  directory.gate = new Promise((resolve) => {
    open = resolve;
  });
  directory.gateFromPage = 3;
  const m365 = await startBroker(env.config, [fakeM365Service(directory)]);
  t.teardown(() => m365.stop());
  const child = spawnNode({
    serviceModules: [PEOPLE_SERVICE],
    env: { ...env.env, PEOPLE_SYNC_LEASE_MS: "4000", PEOPLE_SYNC_INTERVAL_MINUTES: "600" },
  });
  t.teardown(() => child.kill());
  await child.ready;
  await m365.waitForServices(["people"], 10_000);

  // Its caller hears of the death only after the heartbeat timeout; nobody waits for it.
  m365.call("people.runDirectorySync", {}, { timeout: 3000 }).catch(() => undefined);
  await until("the third page to be requested", () => directory.waiting > 0);
  await child.kill();
  t.deepEqual(await sql("select status, pages, created from people.sync_run"), [
    { status: "running", pages: 2, created: 6 },
  ]);
  t.is((await sql("select count(*)::int as n from people.employees"))[0].n, 6);
  open();

  const replica = await startBroker(env.config, [createPeopleService({ scheduler: false })]);
  t.teardown(() => replica.stop());
  let result: unknown = null;
  const started = Date.now();
  await until("the dead replica's lease to run out", async () => {
    result = await replica.call("people.runDirectorySync", {});
    return result !== null;
  });
  t.true(Date.now() - started >= 500, "the dead replica's claim was respected for a while");
  t.like(result, { status: "completed", pages: 4, created: 10 });
  t.is((await sql("select count(*)::int as n from people.employees"))[0].n, 10);
  await mailboxSettingsSettled(sql);
  const hired = await sql(
    "select payload->>'objectId' as id, count(*)::int as n from people.outbox where event = 'employee.hired' group by 1",
  );
  t.is(hired.length, 10);
  t.true(hired.every((h) => h.n === 1));
});

test("pages are asked of the m365 replica that read the page before (it has the next one); if it goes, of another", async (t) => {
  const { env, sql, directory } = await tenantOfTen(t);
  // Two m365 replicas reading the same tenant; each notes the pages it served.
  const served: string[] = [];
  /** A replica that stops answering after the next page it serves (a hung process). */
  let hangAfterNext = false;
  let hung: string | undefined;
  const replica = async (name: string) => {
    const schema = fakeM365Service(directory) as {
      actions: Record<string, { handler: (ctx: unknown) => unknown }>;
    };
    const read = schema.actions.readDirectoryChanges!;
    schema.actions.readDirectoryChanges = {
      ...read,
      handler(ctx) {
        served.push(name);
        if (hung === name) return new Promise(() => undefined);
        if (hangAfterNext) [hangAfterNext, hung] = [false, name];
        return read.handler(ctx);
      },
    };
    const broker = await startBroker(env.config, [schema as never]);
    t.teardown(() => broker.stop());
    return broker;
  };
  const m365: Record<string, Awaited<ReturnType<typeof replica>>> = { a: await replica("a"), b: await replica("b") };
  const people = await startBroker(env.config, [createPeopleService({ scheduler: false })]);
  t.teardown(() => people.stop());
  await people.waitForServices(["m365"], 10_000);

  t.like(await people.call("people.runDirectorySync", {}), { status: "completed", pages: 4, created: 10 });
  // One replica read the whole run (the other would have read every other page without the pin).
  t.is(served.length, 4);
  t.is(new Set(served).size, 1, served.join(","));

  // The next run's second page waits at the replica that read its first; that replica then goes away.
  for (let n = 11; n <= 20; n++) {
    directory.upsert({ id: id(n), displayName: `Person ${n}`, employeeHireDate: "2024-01-01", managerId: null });
  }
  let open!: () => void;
  directory.gate = new Promise((resolve) => {
    open = resolve;
  });
  directory.gateFromPage = directory.pagesRead + 2;
  served.length = 0;
  const run = people.call("people.runDirectorySync", {});
  await until("the second page to be asked for", () => directory.waiting > 0);
  const first = served[0]!;
  t.deepEqual(served, [first, first]);
  // It leaves the cluster at once (a graceful stop would first finish the page it holds).
  await (m365[first] as unknown as { transit: { disconnect(): Promise<void> } }).transit.disconnect();
  open();
  t.like(await run, { status: "completed", kind: "incremental", pages: 4, created: 10 });
  const other = first === "a" ? "b" : "a";
  t.deepEqual(served.slice(2), [other, other, other]);
  t.is((await sql("select count(*)::int as n from people.employees"))[0].n, 20);

  // A third run: the replica that reads its first page then hangs; after one attempt's timeout another takes over.
  m365.c = await replica("c");
  await people.waitForServices([{ name: "m365", nodeID: m365.c.nodeID }] as never, 10_000);
  for (let n = 21; n <= 30; n++) {
    directory.upsert({ id: id(n), displayName: `Person ${n}`, employeeHireDate: "2024-01-01", managerId: null });
  }
  served.length = 0;
  hangAfterNext = true;
  t.like(await people.call("people.runDirectorySync", {}), { status: "completed", pages: 4, created: 10 });
  t.is(served[1], served[0], "the second page was asked of the replica that read the first");
  t.is(hung, served[0]);
  // Pages 2 to 4 came from the others (the first attempt of "any" may land on the hung one again, then a retry moves on).
  t.true(
    served.slice(-3).every((name) => name !== hung),
    served.join(","),
  );
  t.is((await sql("select count(*)::int as n from people.employees"))[0].n, 30);
});

test("someone inserting a person without the sync's locks, between its lookup and its insert, fails that page and not the data: the next run stores it", async (t) => {
  const { env, sql, directory } = await tenantOfTen(t);
  const m365 = await startBroker(env.config, [fakeM365Service(directory)]);
  t.teardown(() => m365.stop());
  const people = await startBroker(env.config, [createPeopleService({ scheduler: false })]);
  t.teardown(() => people.stop());
  await people.waitForServices(["m365"], 10_000);

  // The writer that skips the locks: it inserts person 2 (on the first page) and commits only once another session
  // waits for it, i.e. once the sync, which did not see the uncommitted row, inserts person 2 too.
  const intruder = sql(`do $$ begin
      insert into people.employees (tenant_id, object_id, display_name, enabled, status, source, created_at, updated_at)
      values ('${DEV_TENANT_ID}', '${id(2)}', 'Inserted elsewhere', true, 'active', 'csv', now(), now());
      for i in 1..3000 loop
        perform pg_stat_clear_snapshot();
        exit when exists (select 1 from pg_stat_activity where wait_event_type = 'Lock'
                          and pg_blocking_pids(pid) @> array[pg_backend_pid()]);
        perform pg_sleep(0.01);
      end loop;
    end $$`);
  await until("the intruder's insert", async () => {
    const [row] = await sql(
      "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event = 'PgSleep'",
    );
    return row.n > 0;
  });
  const failed = await people.call("people.runDirectorySync", {}).catch((error: Error) => error);
  await intruder;
  t.true(failed instanceof Error, "the page's insert failed");
  t.regex((failed as Error).message, /duplicate key/);
  // Nothing of the failed page: only the intruder's row; the run waits to be resumed from its start.
  t.deepEqual(await sql("select object_id, display_name from people.employees"), [
    { object_id: id(2), display_name: "Inserted elsewhere" },
  ]);
  t.like((await sql("select status, pages, created from people.sync_run"))[0], { status: "interrupted", pages: 0 });

  // The next run resumes: it finds person 2 under the locks and updates them.
  t.like(await people.call("people.runDirectorySync", {}), { status: "completed", created: 9 });
  const stored = await sql("select object_id, display_name, source from people.employees order by object_id");
  t.deepEqual(
    stored,
    Array.from({ length: 10 }, (_, i) => ({ object_id: id(i + 1), display_name: `Person ${i + 1}`, source: "graph" })),
  );
  await mailboxSettingsSettled(sql);
  const hired = await sql(
    "select payload->>'objectId' as id, count(*)::int as n from people.outbox where event = 'employee.hired' group by 1",
  );
  // Person 2's hire was never announced (hired_announced false on the intruder's row): announced now, once.
  t.is(hired.length, 10);
  t.true(
    hired.every((h) => h.n === 1),
    "no hire twice",
  );
});
