import { createTestEnvironment, query, startBroker } from "@hearth/testkit";
import test from "ava";
import { createPeopleService } from "../src/people.service.ts";
import { FakeDirectory, fakeM365Service } from "./fixtures/fake-m365.ts";
import { countBy, type Harness, mailboxSettingsSettled, oid, startPeople } from "./helpers.ts";

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
// Each test's people service may hold up to 8 connections (its pool): the tests added last run one at a time
// (before the others), so that the file stays within PostgreSQL's 100 connections.

function hireTenant(directory: FakeDirectory, count: number) {
  for (let n = 1; n <= count; n++) {
    directory.upsert({
      id: id(n),
      displayName: `Person ${n}`,
      mail: `person${n}@contoso.example`,
      userPrincipalName: `person${n}@contoso.example`,
      department: n % 2 ? "Sales" : "Engineering",
      managerId: n === 1 ? null : id(1),
      employeeHireDate: "2024-01-01T00:00:00Z",
      timeZone: "Europe/Berlin",
    });
  }
}

function sync(h: Harness) {
  return h.broker.call("people.runDirectorySync", {}) as Promise<{
    kind: string;
    status: string;
    pages: number;
    seen: number;
    created: number;
    updated: number;
    left: number;
  }>;
}

async function employees(h: Harness) {
  await h.settled();
  return h.sql("select object_id, department, status, time_zone from people.employees order by object_id");
}

test("first run reads everything to the deltaLink; later runs apply only changes, each event once", async (t) => {
  const h = await startPeople(t);
  hireTenant(h.directory, 8);
  const first = await sync(h);
  t.like(first, { kind: "full", status: "completed", pages: 3, seen: 8, created: 8, updated: 0, left: 0 });
  const rows = await employees(h);
  t.is(rows.length, 8);
  t.true(rows.every((r) => r.time_zone === "Europe/Berlin" && r.status === "active"));
  t.deepEqual(h.directory.mailboxCalls.flat().sort(), rows.map((r) => r.object_id).sort());
  let events = await h.eventCounts();
  t.is(countBy(events, "employee.hired"), 8);

  // Nothing changed: an incremental run does nothing and fetches no mailbox.
  h.directory.mailboxCalls = [];
  t.like(await sync(h), { kind: "incremental", status: "completed", created: 0, updated: 0, left: 0 });
  t.deepEqual(await h.eventCounts(), events);
  t.deepEqual(h.directory.mailboxCalls, []);

  // A move, a hire, a disable and a removal.
  h.directory.upsert({ id: id(2), department: "Marketing" });
  h.directory.upsert({
    id: id(9),
    displayName: "New Person",
    mail: "new@contoso.example",
    employeeHireDate: "2026-12-01",
  });
  h.directory.upsert({ id: id(3), accountEnabled: false });
  h.directory.remove(id(4));
  const incremental = await sync(h);
  t.like(incremental, { kind: "incremental", status: "completed", seen: 3, created: 1, left: 2 });
  events = await h.eventCounts();
  t.deepEqual(h.directory.mailboxCalls.flat().sort(), [id(2), id(3), id(9)]);
  t.is(events.get(`employee.hired ${id(9)}`), 1);
  t.is(events.get(`employee.updated ${id(2)}`), 1);
  t.is(events.get(`employee.left ${id(3)}`), 1);
  t.is(events.get(`employee.left ${id(4)}`), 1);
  const [moved] = await h.sql(
    "select payload from people.outbox where event = 'employee.updated' and payload->>'objectId' = $1",
    [id(2)],
  );
  t.deepEqual(moved.payload.changes, { department: "Marketing" });
  t.is(countBy(events, "employee.hired"), 9);

  // The same again: nothing new.
  t.like(await sync(h), { created: 0, updated: 0, left: 0 });
  t.deepEqual(await h.eventCounts(), events);
});

test("mailbox settings follow the pages: the directory is there at once, events wait for them, each goes out once", async (t) => {
  const h = await startPeople(t, { people: { mailboxPollMs: 100 } });
  hireTenant(h.directory, 8);
  h.directory.mailboxFailure = "Missing application permission MailboxSettings.Read";
  t.like(await sync(h), { status: "completed", created: 8 });
  // Everyone is in the directory; their time zones and their hires wait for the mailbox settings.
  t.is((await h.sql("select count(*)::int as n from people.employees where time_zone is null"))[0].n, 8);
  let status: any;
  const deadline = Date.now() + 10_000;
  do {
    status = await h.broker.call("people.getDirectorySync", {});
    await new Promise((r) => setTimeout(r, 50));
  } while (!status.mailboxSettings.error && Date.now() < deadline);
  t.like(status.mailboxSettings, { due: 8 });
  t.regex(status.mailboxSettings.error, /MailboxSettings\.Read/);
  t.is((await h.sql("select count(*)::int as n from people.outbox"))[0].n, 0);

  // A move while they wait: held behind the hire, in order.
  h.directory.upsert({ id: id(2), department: "Marketing" });
  await sync(h);
  h.directory.mailboxFailure = undefined;
  await h.settled();
  const rows = await h.sql("select event, payload from people.outbox order by created_at, id");
  const mine = rows.filter((r) => r.payload.objectId === id(2)).map((r) => r.event);
  t.deepEqual(mine, ["employee.hired", "employee.updated"]);
  const hires = rows.filter((r) => r.event === "employee.hired");
  t.is(hires.length, 8);
  t.true(hires.every((r) => r.payload.timeZone === "Europe/Berlin"));
  t.is(((await h.broker.call("people.getDirectorySync", {})) as any).mailboxSettings.error, null);
  // Each once.
  t.deepEqual([...(await h.eventCounts()).values()], Array(rows.length).fill(1));
});

test("a held hire is a mark on the row until something joins it: then it is the hire as it was, first", async (t) => {
  const h = await startPeople(t, { people: { mailboxPollMs: 100 } });
  hireTenant(h.directory, 4);
  h.directory.mailboxFailure = "Missing application permission MailboxSettings.Read";
  t.like(await sync(h), { status: "completed", created: 4 });
  // Each hire waits as a mark, not as a copy of the row.
  t.deepEqual(await h.sql("select count(*)::int as n from people.employees where hire_held and held_events is null"), [
    { n: 4 },
  ]);
  // The person's data export shows the held hire.
  const [{ tenant_id: tenantId }] = await h.sql("select tenant_id from people.employees limit 1");
  const mine = (await h.broker.call(
    "people.exportMyData",
    {},
    { meta: { caller: { tenantId, objectId: id(2), roles: ["Employee"] } } },
  )) as {
    events: Array<{ event: string; payload: { department: string } }>;
  };
  t.like(mine.events, [{ event: "employee.hired", payload: { department: "Engineering" } }]);

  // Changes join the hire while it waits: by the directory (a page), and by an HR import.
  h.directory.upsert({ id: id(2), department: "Marketing" });
  await sync(h);
  const imported = (await h.broker.call("people.importCsv", {
    csv: "Work Mail,Title\nperson3@contoso.example,Buyer\n",
    mapping: { mail: "Work Mail", jobTitle: "Title" },
  })) as { updated: number; rejected: unknown[] };
  t.like(imported, { updated: 1, rejected: [] });
  t.deepEqual(
    await h.sql("select object_id, hire_held from people.employees where object_id in ($1, $2) order by object_id", [
      id(2),
      id(3),
    ]),
    [
      { object_id: id(2), hire_held: false },
      { object_id: id(3), hire_held: false },
    ],
  );
  // Their manager is erased while they wait: every held hire (a mark or not) loses the reference to them.
  await h.broker.call(
    "people.eraseEmployee",
    { id: id(1) },
    { meta: { caller: { tenantId, objectId: id(5), roles: ["HR"] } } },
  );

  h.directory.mailboxFailure = undefined;
  await h.settled();
  const rows = await h.sql("select event, payload from people.outbox order by created_at, id");
  const of = (n: number) => rows.filter((r) => r.payload.objectId === id(n));
  // The hire as it was when it happened, then the changes, then nothing else; with the time zone read since.
  const hired = (fields: object) => ({
    event: "employee.hired",
    payload: { ...fields, managerId: null, timeZone: "Europe/Berlin" },
  });
  const unmanaged = { event: "employee.updated", payload: { changes: { managerId: null } } };
  t.like(of(2), [
    hired({ department: "Engineering" }),
    { event: "employee.updated", payload: { changes: { department: "Marketing" } } },
    unmanaged,
  ]);
  t.is(of(2).length, 3);
  t.like(of(3), [
    hired({ jobTitle: null, department: "Sales" }),
    { event: "employee.updated", payload: { changes: { jobTitle: "Buyer" } } },
    unmanaged,
  ]);
  t.is(of(3).length, 3);
  t.like(of(4), [hired({ department: "Engineering" }), unmanaged]);
  t.is(of(4).length, 2);
  t.deepEqual(
    rows.filter((r) => JSON.stringify(r.payload).includes(id(1))).map((r) => r.event),
    ["employee.erased"],
  );
  t.deepEqual(await h.sql("select count(*)::int as n from people.employees where hire_held"), [{ n: 0 }]);
  // Each once: no event twice.
  t.is(new Set(rows.map((r) => `${r.event} ${JSON.stringify(r.payload)}`)).size, rows.length);
});

test.serial(
  "a bulk read of mailbox settings vacuums the directory as it goes and at its end; every event once",
  async (t) => {
    const h = await startPeople(t, { people: { mailboxPollMs: 100, mailboxVacuumAfter: 200 } });
    hireTenant(h.directory, 450);
    h.directory.pageSize = 999;
    t.like(await sync(h), { status: "completed", created: 450 });
    await h.settled();
    // 100 people per read, 8 reads at once: vacuumed each time 200 more are settled and at the end if any are left
    // over since, so at least twice (statistics arrive a moment later).
    let vacuums = 0;
    const deadline = Date.now() + 10_000;
    while (vacuums < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      [{ vacuums }] = await h.sql<{ vacuums: number }>(
        "select vacuum_count::int as vacuums from pg_stat_user_tables where schemaname = 'people' and relname = 'employees'",
      );
    }
    t.true(vacuums >= 2, `vacuumed ${vacuums} times`);
    t.is(
      (await h.sql("select count(*)::int as n from people.employees where mailbox_due or time_zone is null"))[0].n,
      0,
    );
    // A small read after it (an incremental sync's few people) does not vacuum at its end.
    const vacuumCount = async () => {
      await new Promise((r) => setTimeout(r, 1500)); // statistics arrive a moment later
      const [row] = await h.sql<{ n: number }>(
        "select vacuum_count::int as n from pg_stat_user_tables where schemaname = 'people' and relname = 'employees'",
      );
      return row!.n;
    };
    const before = await vacuumCount();
    for (let n = 451; n <= 455; n++) {
      h.directory.upsert({ id: id(n), displayName: `Person ${n}`, employeeHireDate: "2024-01-01T00:00:00Z" });
    }
    t.like(await sync(h), { status: "completed", created: 5 });
    await h.settled();
    t.is(await vacuumCount(), before);
    const events = await h.eventCounts();
    t.is(countBy(events, "employee.hired"), 455);
    t.true([...events.values()].every((n) => n === 1));
  },
);

test("a crash between pages resumes from the last committed page: nothing lost, nothing doubled", async (t) => {
  const h = await startPeople(t);
  hireTenant(h.directory, 10); // 4 pages of 3
  h.directory.failOnPage = 3;
  const error = await t.throwsAsync(sync(h));
  t.regex(error!.message, /connection reset/);
  t.is((await employees(h)).length, 6, "the two committed pages are kept");
  const status = (await h.broker.call("people.getDirectorySync", {})) as { current: { status: string; pages: number } };
  t.like(status.current, { status: "interrupted", pages: 2 });

  h.directory.failOnPage = undefined;
  const resumed = await sync(h);
  t.like(resumed, { kind: "full", status: "completed", pages: 4, seen: 10, created: 10 });
  t.is((await employees(h)).length, 10);
  const events = await h.eventCounts();
  t.is(countBy(events, "employee.hired"), 10);
  t.true([...events.values()].every((n) => n === 1));
  // The resume read pages 3 and 4 only.
  t.is(h.directory.pagesRead, 3 + 2);
});

test.serial(
  "pages are stored two at a time but commit in order: a person on two pages ends in the later state",
  async (t) => {
    const h = await startPeople(t);
    hireTenant(h.directory, 12); // 4 pages of 3
    // Person 2 (page 1) reported again on page 3 with a new department, as Graph may within one round.
    const again = { ...h.directory.users.get(id(2))!, department: "Finance" };
    const { timeZone: _t, locale: _l, ...user } = again;
    h.directory.extraOnPage.set(3, [{ kind: "upsert", user }]);
    t.like(await sync(h), { status: "completed", pages: 4, created: 12, updated: 1 });
    const rows = await employees(h);
    t.is(rows.length, 12);
    t.is(rows.find((r) => r.object_id === id(2))?.department, "Finance");
    const events = await h.eventCounts();
    t.is(countBy(events, "employee.hired"), 12);
    t.true([...events.values()].every((n) => n === 1));
  },
);

test.serial(
  "a page that cannot be stored ends the run there: no later page commits, the resume starts from it",
  async (t) => {
    const h = await startPeople(t);
    hireTenant(h.directory, 12); // 4 pages of 3
    // Person 5 (page 2) has a country code the directory cannot hold: that page's transaction fails.
    h.directory.upsert({ id: id(5), country: "DEU" });
    await t.throwsAsync(sync(h));
    t.deepEqual(
      (await employees(h)).map((r) => r.object_id),
      [id(1), id(2), id(3)],
      "page 1 only: pages 3 and 4 (read ahead, maybe already written) did not commit",
    );
    const status = (await h.broker.call("people.getDirectorySync", {})) as {
      current: { status: string; pages: number };
    };
    t.like(status.current, { status: "interrupted", pages: 1 });

    h.directory.upsert({ id: id(5), country: "DE" });
    t.like(await sync(h), { kind: "full", status: "completed", pages: 4, seen: 12, created: 12 });
    t.is((await employees(h)).length, 12);
    const events = await h.eventCounts();
    t.is(countBy(events, "employee.hired"), 12);
    t.true([...events.values()].every((n) => n === 1));
  },
);

test("an expired delta token (410) forces a full resync; people it does not see have left", async (t) => {
  const h = await startPeople(t);
  hireTenant(h.directory, 5);
  await sync(h);
  // Someone disappears without the delta ever saying so, and the token expires.
  h.directory.users.delete(id(5));
  h.directory.upsert({ id: id(2), jobTitle: "Lead" });
  h.directory.expireTokens();
  const resync = await sync(h);
  t.like(resync, { kind: "full", status: "completed", left: 1 });
  const events = await h.eventCounts();
  t.is(events.get(`employee.left ${id(5)}`), 1);
  t.is(events.get(`employee.updated ${id(2)}`), 1);
  t.is(countBy(events, "employee.hired"), 5);
  // Back to incremental from the new deltaLink.
  t.like(await sync(h), { kind: "incremental", created: 0, updated: 0, left: 0 });
});

test("on demand through the gateway (HR), progress visible; a scheduled attempt before it is due does nothing", async (t) => {
  const h = await startPeople(t);
  hireTenant(h.directory, 7);
  const hr = await h.token("hr@contoso.example", ["HR"]);
  const started = await h.http("POST", "/api/v1/directory/sync", { token: hr, body: {} });
  t.is(started.status, 202, started.text);
  // While it runs (or just after), a second runner finds the claim taken or nothing due.
  let last: any;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    last = (await h.http("GET", "/api/v1/directory/sync", { token: hr })).json;
    if (last.last) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  t.like(last.last, { kind: "full", status: "completed", pages: 3, created: 7 });
  t.is(last.current, null);
  t.true(last.hasDeltaLink);
  t.true(new Date(last.nextSyncAt).getTime() > Date.now() + 30 * 60_000, "next run one interval away");
  // Not due: a scheduled attempt does nothing.
  t.is(await h.broker.call("people.runDirectorySync", { trigger: "schedule" }), null);
});

test("the schedule: a due sync runs by itself, once per interval", async (t) => {
  const directory = new FakeDirectory();
  hireTenant(directory, 4);
  const h = await startPeople(t, {
    directory,
    people: { scheduler: true, schedulerPollMs: 100, syncIntervalMinutes: 60 },
  });
  const deadline = Date.now() + 10_000;
  let runs: any[] = [];
  while (Date.now() < deadline) {
    runs = await h.sql("select status, created from people.sync_run");
    if (runs.some((r) => r.status === "completed")) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.deepEqual(runs, [{ status: "completed", created: 4 }]);
  // Polled again and again, but not due for an hour: still one run.
  await new Promise((r) => setTimeout(r, 500));
  t.is((await h.sql("select count(*)::int as n from people.sync_run"))[0].n, 1);
  t.is(countBy(await h.eventCounts(), "employee.hired"), 4);
});

test("two replicas asked to sync at once: one runs it, the other stands aside; every event once", async (t) => {
  const env = await createTestEnvironment({ nats: false });
  t.teardown(() => env.cleanup());
  const directory = new FakeDirectory();
  hireTenant(directory, 7);
  let open!: () => void;
  directory.gate = new Promise((resolve) => {
    open = resolve;
  });
  const replicas = await Promise.all(
    [1, 2].map(() => startBroker(env.config, [createPeopleService({ scheduler: false }), fakeM365Service(directory)])),
  );
  t.teardown(() => Promise.all(replicas.map((b) => b.stop())));
  const calls = replicas.map((b) => b.call("people.runDirectorySync", {}));
  // The winner is held at its first page; the other one answers meanwhile, having found the claim taken.
  t.is(await Promise.race(calls), null);
  open();
  const results = await Promise.all(calls);
  t.is(results.filter((r) => r === null).length, 1);
  t.like(
    results.find((r) => r !== null),
    { status: "completed", created: 7 },
  );
  await mailboxSettingsSettled((text) => query(env.database!.url, text));
  const hired = await query(
    env.database!.url,
    "select count(*)::int as n from people.outbox where event = 'employee.hired'",
  );
  t.is(hired[0].n, 7);
  t.is(directory.pagesRead, 3);
});

test("the schedule applies leave dates that have arrived, also to people not from Microsoft 365, once", async (t) => {
  const h = await startPeople(t, { seed: true, people: { scheduler: true, schedulerPollMs: 100 } });
  const leaver = oid("ruby.scott@contoso.example");
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  await h.sql("update people.employees set leave_date = $1 where object_id = $2", [yesterday, leaver]);
  const deadline = Date.now() + 10_000;
  let status = "active";
  while (Date.now() < deadline && status === "active") {
    [{ status }] = await h.sql("select status from people.employees where object_id = $1", [leaver]);
    await new Promise((r) => setTimeout(r, 100));
  }
  t.is(status, "left");
  await new Promise((r) => setTimeout(r, 400));
  const events = await h.eventCounts();
  t.is(events.get(`employee.left ${leaver}`), 1);
  t.is(countBy(events, "employee.left"), 1);
});

test("a replica that died holding the sync blocks others only until its lease runs out; then the run resumes", async (t) => {
  const h = await startPeople(t);
  hireTenant(h.directory, 10);
  h.directory.failOnPage = 3;
  await t.throwsAsync(sync(h));
  h.directory.failOnPage = undefined;
  // As if a replica had claimed the sync and been killed -9 (its claim left behind, its lease still running).
  await h.sql(
    "update people.sync_state set claimed_by = 'dead-node:1', claimed_until = now() + interval '1500 milliseconds'",
  );
  t.is(await h.broker.call("people.runDirectorySync", {}), null);
  await new Promise((r) => setTimeout(r, 1600));
  t.like(await sync(h), { status: "completed", pages: 4, created: 10 });
  const events = await h.eventCounts();
  t.is(countBy(events, "employee.hired"), 10);
  t.true([...events.values()].every((n) => n === 1));
});
