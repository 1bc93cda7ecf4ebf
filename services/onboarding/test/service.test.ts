// The onboarding service against a real PostgreSQL schema: journeys from employee.hired, tasks completed from the
// API and from a Teams card, rescheduling, buddy matching with a decline that rematches, erasure.
import { randomUUID } from "node:crypto";
import { demoUserObjectId as oid } from "@hearth/platform";
import { createTestEnvironment, query, startBroker } from "@hearth/testkit";
import test, { type ExecutionContext } from "ava";
import type moleculer from "moleculer";
import { createOnboardingService } from "../src/onboarding.service.ts";
import type { OnboardingThis } from "../src/store.ts";

type Sent = { templateId: string; userIds: string[]; dedupeKey: string; data: Record<string, unknown> };

function fakeNotifications(sent: Sent[]): moleculer.ServiceSchema {
  return {
    name: "notifications",
    actions: {
      notify: {
        visibility: "public",
        handler(ctx: moleculer.Context<any>) {
          sent.push({
            templateId: ctx.params.templateId,
            userIds: ctx.params.audience.userIds,
            dedupeKey: ctx.params.dedupeKey,
            data: ctx.params.data,
          });
          return { requestId: randomUUID(), accepted: 1, suppressed: 0 };
        },
      },
    },
  };
}

const DAY = 86_400_000;
const dateIn = (days: number) => new Date(Date.now() + days * DAY).toISOString().slice(0, 10);

async function start(t: ExecutionContext) {
  const env = await createTestEnvironment({ nats: false, env: { SEED_DEMO: "off" } });
  t.teardown(() => env.cleanup());
  const sent: Sent[] = [];
  const broker = await startBroker(env.config, [
    createOnboardingService({ scheduler: false }),
    fakeNotifications(sent),
  ]);
  t.teardown(() => broker.stop());
  const service = broker.getLocalService("onboarding") as unknown as OnboardingThis & {
    schema: { domainEvents: Record<string, (this: unknown, e: unknown, em: unknown) => Promise<void>> };
  };
  const tenantId = (service.settings as { tenantId: string }).tenantId;
  const sql = <R = any>(text: string, params: unknown[] = []) => query(env.database!.url, text, params) as Promise<R[]>;
  /** Delivers a domain event as the durable subscription would: inside one transaction. */
  const deliver = (name: string, payload: Record<string, unknown>) =>
    service.transaction((em) =>
      service.schema.domainEvents[name]!.call(
        service,
        {
          id: randomUUID(),
          name,
          payload: { tenantId, ...payload },
          occurredAt: new Date().toISOString(),
          source: "people",
        },
        em,
      ),
    );
  const hired = (upn: string, o: Record<string, unknown> = {}) =>
    deliver("employee.hired", {
      objectId: oid(upn),
      displayName: upn.split("@")[0],
      mail: upn,
      department: "Engineering",
      jobTitle: "Engineer",
      managerId: null,
      country: "DE",
      timeZone: "Europe/Berlin",
      preferredLanguage: "de-DE",
      hireDate: "2019-01-01",
      source: "graph",
      ...o,
    });
  const as = (upn: string, roles: string[] = ["Employee"]) => ({
    meta: { caller: { tenantId, objectId: oid(upn), roles } },
  });
  const outbox = async (name: string) =>
    (await sql<{ n: number }>(`select count(*)::int as n from onboarding.outbox where event = $1`, [name]))[0]!.n;
  return { broker, service, sent, sql, deliver, hired, as, outbox, tenantId };
}

test("employee.hired starts a journey from the default template; tasks are due in each owner's zone", async (t) => {
  const h = await start(t);
  await h.hired("ceo@c.test");
  await h.hired("boss@c.test", { managerId: oid("ceo@c.test"), timeZone: "America/New_York", country: "US" });
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(10) });
  const [journey] = await h.sql(`select * from onboarding.journeys`);
  t.is(journey.new_hire_id, oid("ada@c.test"));
  t.deepEqual(journey.manager_chain, [oid("boss@c.test"), oid("ceo@c.test")]);
  const tasks = await h.sql(`select * from onboarding.tasks order by due_at`);
  t.is(tasks.length, 10);
  const managerTask = tasks.find((x) => x.step_key === "meet-the-team");
  t.is(managerTask.owner_id, oid("boss@c.test"));
  t.is(managerTask.owner_time_zone, "America/New_York");
  t.is(new Date(managerTask.due_at).getUTCHours() % 24, new Date(managerTask.due_at).getUTCHours()); // a real instant
  const welcome = tasks.find((x) => x.step_key === "welcome");
  t.true(welcome.due_date < journey.hire_date, "pre-boarding comes before day one");
  t.regex(welcome.title, /Welcome to Contoso, ada/);
  t.is(await h.outbox("onboarding.journey.started"), 1);
  // A second delivery of the same hire changes nothing.
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(10) });
  t.is((await h.sql(`select * from onboarding.journeys`)).length, 1);
  // Existing staff first seen in a directory sync get no journey.
  t.is((await h.sql(`select * from onboarding.journeys where new_hire_id = $1`, [oid("ceo@c.test")])).length, 0);
});

test("tasks are completed by their owner from the API and from a Teams card; the last completes the journey", async (t) => {
  const h = await start(t);
  await h.hired("boss@c.test");
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(3) });
  const mine = (await h.broker.call("onboarding.getMyJourney", {}, h.as("ada@c.test"))) as any;
  t.is(mine.journey.progress.total, 10);
  t.true(mine.today.length >= 1, "the welcome is due five working days before day one");
  const managerTasks = (await h.broker.call("onboarding.listMyTasks", { status: "open" }, h.as("boss@c.test"))) as any;
  t.true(managerTasks.items.every((x: any) => x.owner === "manager"));
  // Someone else cannot complete the new hire's task.
  const first = mine.journey.tasks.find((x: any) => x.owner === "newHire");
  await t.throwsAsync(h.broker.call("onboarding.completeTask", { id: first.id }, h.as("eve@c.test")), {
    message: /owner or HR/,
  });
  const done = (await h.broker.call("onboarding.completeTask", { id: first.id }, h.as("ada@c.test"))) as any;
  t.is(done.status, "done");
  // The manager completes theirs from the card (Action.Execute through the bot endpoint).
  const viaCard = (await h.broker.call("onboarding.handleCardAction", {
    verb: "onboarding.completeTask",
    data: { taskId: managerTasks.items[0].id },
    user: { aadObjectId: oid("boss@c.test"), tenantId: h.tenantId },
  })) as any;
  t.regex(JSON.stringify(viaCard.card), /Done: .*2 of 10 tasks/);
  // Pressed again from a Teams client in German: the answer is in German.
  const replay = (await h.broker.call("onboarding.handleCardAction", {
    verb: "onboarding.completeTask",
    data: { taskId: managerTasks.items[0].id },
    user: { aadObjectId: oid("boss@c.test"), tenantId: h.tenantId },
    locale: "de-DE",
  })) as any;
  t.regex(JSON.stringify(replay.card), /Bereits erledigt: .*2 von 10 Aufgaben/);
  // HR completes the rest; the journey completes once.
  for (const task of mine.journey.tasks) {
    await h.broker.call("onboarding.completeTask", { id: task.id }, h.as("hr@c.test", ["HR"]));
  }
  const after = (await h.broker.call("onboarding.getJourney", { id: mine.journey.id }, h.as("ada@c.test"))) as any;
  t.is(after.status, "completed");
  t.deepEqual(after.progress, { done: 10, total: 10 });
  t.is(await h.outbox("onboarding.task.completed"), 10);
  t.is(await h.outbox("onboarding.journey.completed"), 1);
});

test("a moved hire date reschedules the open tasks; done ones keep their dates", async (t) => {
  const h = await start(t);
  await h.hired("ada@c.test", { hireDate: "2030-03-04" });
  const [welcome] = await h.sql(`select * from onboarding.tasks where step_key = 'welcome'`);
  await h.broker.call("onboarding.completeTask", { id: welcome.id }, h.as("ada@c.test"));
  await h.deliver("employee.updated", {
    objectId: oid("ada@c.test"),
    fields: ["hireDate"],
    changes: { hireDate: "2030-03-18" },
  });
  const tasks = await h.sql(`select step_key, due_date from onboarding.tasks`);
  const due = Object.fromEntries(tasks.map((x) => [x.step_key, x.due_date]));
  t.is(due.welcome, welcome.due_date);
  t.is(due["day-one-setup"], "2030-03-18");
  t.is(due["meet-the-team"], "2030-03-21");
});

test("buddies are matched by the rules, a decline matches again, erasure removes the person", async (t) => {
  const h = await start(t);
  await h.hired("boss@c.test");
  for (const upn of ["jo@c.test", "kim@c.test", "new@c.test"])
    await h.hired(upn, { managerId: oid("boss@c.test"), hireDate: upn === "new@c.test" ? "2019-06-01" : "2020-01-01" });
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(7) });
  for (const [upn, interests] of [
    ["boss@c.test", ["chess"]],
    ["jo@c.test", ["chess", "climbing"]],
    ["kim@c.test", ["running"]],
  ] as const) {
    await h.broker.call(
      "onboarding.updateMyBuddyProfile",
      { optedIn: true, interests, languages: ["de"], capacity: 2 },
      h.as(upn),
    );
  }
  const first = (await h.broker.call("onboarding.runBuddyMatching", {}, h.as("hr@c.test", ["HR"]))) as any;
  t.is(first.matches.length, 1);
  t.not(first.matches[0].buddyId, oid("boss@c.test"), "the manager is never the buddy");
  const firstBuddy = first.matches[0].buddyId;
  t.regex(first.matches[0].explanation, /same department/);
  t.true(h.sent.some((s) => s.templateId === "onboarding.buddy-request" && s.userIds[0] === firstBuddy));
  const buddyTask = (await h.sql(`select owner_id from onboarding.tasks where step_key = 'first-buddy-meeting'`))[0];
  t.is(buddyTask.owner_id, firstBuddy);
  // The buddy declines from the card: another buddy is proposed at once.
  const upnOf = firstBuddy === oid("jo@c.test") ? "jo@c.test" : "kim@c.test";
  const declined = (await h.broker.call("onboarding.handleCardAction", {
    verb: "onboarding.declineBuddy",
    data: { journeyId: first.matches[0].journeyId },
    user: { aadObjectId: oid(upnOf), tenantId: h.tenantId },
  })) as any;
  t.regex(JSON.stringify(declined.card), /another buddy/);
  const [journey] = await h.sql(`select * from onboarding.journeys`);
  t.is(journey.buddy_status, "proposed");
  t.not(journey.buddy_id, firstBuddy);
  t.is(await h.outbox("onboarding.buddy.declined"), 1);
  t.is(await h.outbox("onboarding.buddy.assigned"), 2);
  // Erasure of the new hire removes the journey, its tasks and the profile.
  await h.deliver("employee.erased", { objectId: oid("ada@c.test") });
  t.is((await h.sql(`select * from onboarding.journeys`)).length, 0);
  t.is((await h.sql(`select * from onboarding.tasks`)).length, 0);
  t.is((await h.sql(`select * from onboarding.buddy_profiles where employee_id = $1`, [oid("ada@c.test")])).length, 0);
});

test("a template that does not compile is refused with the step and the reason; a new version is saved", async (t) => {
  const h = await start(t);
  const hr = h.as("hr@c.test", ["HR"]);
  const step = { key: "hello", title: "Hello", offsetDays: 0, owner: "newHire", content: "{{person.salary}}" };
  const refused = await t.throwsAsync(h.broker.call("onboarding.saveTemplate", { name: "Sales", steps: [step] }, hr));
  t.is((refused as any).code, 422);
  t.deepEqual((refused as any).data.fields, [
    { field: "steps[hello].content", message: 'unknown field "person.salary"' },
  ]);
  const ok = { ...step, content: "Hi {{person.givenName}}" };
  const v1 = (await h.broker.call(
    "onboarding.saveTemplate",
    { name: "Sales", steps: [ok], audience: { departments: ["Sales"] } },
    hr,
  )) as any;
  const v2 = (await h.broker.call(
    "onboarding.saveTemplate",
    { name: "Sales", steps: [ok, { ...ok, key: "two" }], audience: { departments: ["Sales"] } },
    hr,
  )) as any;
  t.is(v1.version, 1);
  t.is(v2.version, 2);
  await h.hired("sam@c.test", { department: "Sales", hireDate: dateIn(3) });
  const [journey] = await h.sql(`select template_id from onboarding.journeys`);
  t.is(journey.template_id, v2.id);
});

test("nudges: due today, overdue after N days, escalation to the manager after M days, each once", async (t) => {
  const h = await start(t);
  await h.hired("boss@c.test");
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(0) });
  await h.sql(`update onboarding.tasks set status = 'done' where step_key <> 'day-one-setup'`);
  const [task] = await h.sql(`select id from onboarding.tasks where step_key = 'day-one-setup'`);
  const at = (days: number) => new Date(Date.now() + days * DAY).toISOString();
  await h.sql(`update onboarding.tasks set due_at = $1 where id = $2`, [at(0.1), task.id]);
  t.deepEqual(await h.broker.call("onboarding.runNudges", {}), {
    dueToday: 1,
    overdue: 0,
    escalated: 0,
    checkins: 0,
    closed: 0,
  });
  t.deepEqual(await h.broker.call("onboarding.runNudges", {}), {
    dueToday: 0,
    overdue: 0,
    escalated: 0,
    checkins: 0,
    closed: 0,
  });
  t.deepEqual(await h.broker.call("onboarding.runNudges", { now: at(2.5) }), {
    dueToday: 0,
    overdue: 1,
    escalated: 0,
    checkins: 0,
    closed: 0,
  });
  t.deepEqual(await h.broker.call("onboarding.runNudges", { now: at(6) }), {
    dueToday: 0,
    overdue: 0,
    escalated: 1,
    checkins: 0,
    closed: 0,
  });
  t.deepEqual(
    h.sent.map((s) => [s.dedupeKey.split(":").pop(), s.userIds[0]]),
    [
      ["due", oid("ada@c.test")],
      ["overdue", oid("ada@c.test")],
      ["escalated", oid("boss@c.test")],
    ],
  );
});

test("check-ins: week-1 rating cards to the new hire and the buddy; a rating from the card shows in HR's report", async (t) => {
  const h = await start(t);
  await h.hired("boss@c.test");
  await h.hired("jo@c.test", { managerId: oid("boss@c.test") });
  await h.broker.call(
    "onboarding.updateMyBuddyProfile",
    { optedIn: true, interests: [], languages: ["de"], capacity: 1 },
    h.as("jo@c.test"),
  );
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(-5) });
  await h.sql(`update onboarding.tasks set status = 'done'`);
  const matched = (await h.broker.call("onboarding.runBuddyMatching", {})) as any;
  const journeyId = matched.matches[0].journeyId;
  await h.broker.call("onboarding.respondToBuddyRequest", { journeyId, accept: true }, h.as("jo@c.test"));
  t.like(await h.broker.call("onboarding.runNudges", {}), { checkins: 2 });
  const cards = h.sent.filter((s) => s.templateId === "onboarding.checkin-due");
  t.deepEqual(cards.map((c) => c.userIds[0]).sort(), [oid("ada@c.test"), oid("jo@c.test")].sort());
  const reply = (await h.broker.call("onboarding.handleCardAction", {
    verb: "onboarding.checkin",
    data: { journeyId, week: 1, rating: 4 },
    user: { aadObjectId: oid("ada@c.test"), tenantId: h.tenantId },
  })) as any;
  t.regex(JSON.stringify(reply.card), /Thanks for your check-in/);
  t.like(await h.broker.call("onboarding.runNudges", {}), { checkins: 1 }, "only the buddy has not answered");
  t.is(await h.outbox("onboarding.checkin.submitted"), 1);
  const reports = (await h.broker.call("onboarding.getReports", {}, h.as("hr@c.test", ["HR"]))) as any;
  t.like(
    reports.buddies.find((b: any) => b.buddyId === oid("jo@c.test")),
    { load: 1, averageRating: 4, ratings: 1 },
  );
});

test("HR's attention list and override: overdue tasks, no buddy before the start, a buddy set by hand with warnings", async (t) => {
  const h = await start(t);
  const hr = h.as("hr@c.test", ["HR"]);
  await h.hired("boss@c.test");
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(1) });
  const attention = (await h.broker.call("onboarding.needsAttention", {}, hr)) as any;
  t.true(attention.items.some((i: any) => i.reason === "no-buddy" && i.newHireId === oid("ada@c.test")));
  t.true(
    attention.items.some((i: any) => i.reason === "overdue-task"),
    "pre-boarding tasks are past due",
  );
  const [journey] = await h.sql(`select id from onboarding.journeys`);
  // The manager is not allowed by the rules: HR may still choose them, and is told why it breaks the rules.
  const set = (await h.broker.call(
    "onboarding.assignBuddy",
    { journeyId: journey.id, buddyId: oid("boss@c.test") },
    hr,
  )) as any;
  t.true(set.warnings.includes("management-chain"));
  t.regex(set.explanation, /^set by HR/);
  const later = (await h.broker.call("onboarding.needsAttention", {}, hr)) as any;
  t.false(later.items.some((i: any) => i.reason === "no-buddy"));
  await t.throwsAsync(h.broker.call("onboarding.needsAttention", {}, h.as("ada@c.test")), {
    message: /role|access|allowed|Forbidden/i,
  });
});

test("existing staff get no journey by themselves; a hire seen a few days late does, without past pre-boarding or instant escalation; HR starts older ones by hand", async (t) => {
  const h = await start(t);
  const hr = h.as("hr@c.test", ["HR"]);
  await h.hired("boss@c.test");
  // A first directory sync announces everyone: someone who started a month ago is staff, not a new hire.
  await h.hired("old@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(-30) });
  t.is((await h.sql(`select * from onboarding.journeys`)).length, 0);
  // An account that reaches the directory three days after the start still gets the journey.
  await h.hired("late@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(-3) });
  const tasks = await h.sql(`select step_key, status, due_date from onboarding.tasks order by due_at`);
  t.deepEqual(
    tasks.filter((x) => x.status === "skipped").map((x) => x.step_key),
    ["prepare-equipment", "welcome", "buddy-intro"],
    "pre-boarding that is already past is skipped",
  );
  const dayOne = tasks.find((x) => x.step_key === "day-one-setup");
  t.is(dayOne.status, "open");
  t.true(dayOne.due_date < dateIn(0));
  // Lateness counts from the journey's start: the first word is a reminder, not an overdue notice or escalation.
  const nudged = (await h.broker.call("onboarding.runNudges", {})) as any;
  t.like(nudged, { overdue: 0, escalated: 0 });
  const dayOneNudges = h.sent.filter((s) => s.data.taskTitle === "Day one: set up your laptop, Teams and MFA");
  t.deepEqual(
    dayOneNudges.map((s) => s.dedupeKey.split(":").pop()),
    ["due"],
  );
  // The window is HR's to change: a month back now starts by itself.
  await h.broker.call("onboarding.updateSettings", { autoStartWithinDays: 45 }, hr);
  await h.hired("recent@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(-30) });
  t.is((await h.sql(`select * from onboarding.journeys where new_hire_id = $1`, [oid("recent@c.test")])).length, 1);
  // HR starts the journey of someone outside the window by hand.
  await h.broker.call("onboarding.updateSettings", { autoStartWithinDays: 0 }, hr);
  const started = (await h.broker.call("onboarding.startJourney", { employeeId: oid("old@c.test") }, hr)) as any;
  t.is(started.newHireId, oid("old@c.test"));
  t.is(started.progress.total, 10);
  t.is(started.tasks.filter((x: any) => x.status === "skipped").length, 3);
  await t.throwsAsync(h.broker.call("onboarding.startJourney", { employeeId: oid("old@c.test") }, h.as("old@c.test")), {
    message: /role|access|allowed|Forbidden/i,
  });
});

test("HR steps go to the HR owners from the settings, who complete them from their Teams card; a leaver's pass on", async (t) => {
  const h = await start(t);
  const hr = h.as("hr@c.test", ["HR"]);
  for (const upn of ["boss@c.test", "hr1@c.test", "hr2@c.test"]) await h.hired(upn);
  // Before HR names any owner, an HR step has none (HR completes it through the API).
  await h.hired("cy@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(10) });
  const hrTask = async (upn: string) =>
    (
      await h.sql(
        `select t.* from onboarding.tasks t join onboarding.journeys j on j.id = t.journey_id
         where t.owner = 'hr' and j.new_hire_id = $1`,
        [oid(upn)],
      )
    )[0];
  t.is((await hrTask("cy@c.test")).owner_id, null);
  const refused = await t.throwsAsync(
    h.broker.call("onboarding.updateSettings", { hrOwnerIds: [oid("nobody@c.test")] }, hr),
  );
  t.is((refused as any).code, 422);
  t.deepEqual((refused as any).data.fields, [
    { field: "hrOwnerIds[0]", message: "not an active employee in the directory" },
  ]);
  const saved = (await h.broker.call(
    "onboarding.updateSettings",
    { hrOwnerIds: [oid("hr1@c.test"), oid("hr2@c.test")] },
    hr,
  )) as any;
  t.deepEqual(saved.hrOwnerIds, [oid("hr1@c.test"), oid("hr2@c.test")]);
  t.is(saved.updatedBy, oid("hr@c.test"));
  // The open HR step of the journey already running is handed to the first owner; new journeys go to the least loaded.
  t.is((await hrTask("cy@c.test")).owner_id, oid("hr1@c.test"));
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(10) });
  await h.hired("bob@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(10) });
  const adaTask = await hrTask("ada@c.test");
  t.is(adaTask.owner_id, oid("hr2@c.test"));
  t.is((await hrTask("bob@c.test")).owner_id, oid("hr1@c.test"));
  const mine = (await h.broker.call("onboarding.listMyTasks", { status: "open" }, h.as("hr2@c.test"))) as any;
  t.deepEqual(
    mine.items.map((x: any) => [x.owner, x.newHireId]),
    [["hr", oid("ada@c.test")]],
  );
  // The owner gets the due card with its Mark-as-done button…
  await h.sql(`update onboarding.tasks set due_at = now() + interval '2 hours' where id = $1`, [adaTask.id]);
  await h.broker.call("onboarding.runNudges", {});
  t.true(h.sent.some((s) => s.dedupeKey === `onboarding:task:${adaTask.id}:due` && s.userIds[0] === oid("hr2@c.test")));
  // …and completes the step from it; the other HR owner cannot.
  const card = (upn: string) =>
    h.broker.call("onboarding.handleCardAction", {
      verb: "onboarding.completeTask",
      data: { taskId: adaTask.id },
      user: { aadObjectId: oid(upn), tenantId: h.tenantId },
    }) as Promise<any>;
  t.regex(JSON.stringify((await card("hr1@c.test")).card), /Only the person this task is for/);
  t.regex(JSON.stringify((await card("hr2@c.test")).card), /Done: Contract, bank details and policies signed/);
  t.is((await hrTask("ada@c.test")).status, "done");
  // An HR owner who leaves hands their open HR steps to the others.
  await h.deliver("employee.left", { objectId: oid("hr1@c.test"), leaveDate: dateIn(0), reason: "disabled" });
  t.is((await hrTask("bob@c.test")).owner_id, oid("hr2@c.test"));
  t.is((await hrTask("cy@c.test")).owner_id, oid("hr2@c.test"));
});

test("HR's attention thresholds and the nudge days are settings; values that contradict each other are refused", async (t) => {
  const h = await start(t);
  const hr = h.as("hr@c.test", ["HR"]);
  const defaults = (await h.broker.call("onboarding.getSettings", {}, hr)) as any;
  t.like(defaults, {
    autoStartWithinDays: 7,
    nudges: { overdueReminderAfterDays: 2, escalateAfterDays: 5 },
    attention: { overdueTaskAfterDays: 0, noBuddyByDay: -3, buddyResponseDays: 2, firstBuddyMeetingByDay: 14 },
    updatedAt: null,
  });
  await t.throwsAsync(h.broker.call("onboarding.getSettings", {}, h.as("ada@c.test")), {
    message: /role|access|allowed|Forbidden/i,
  });
  const refused = await t.throwsAsync(
    h.broker.call("onboarding.updateSettings", { nudges: { escalateAfterDays: 2 } }, hr),
  );
  t.deepEqual((refused as any).data.fields, [
    { field: "nudges.escalateAfterDays", message: "must be more than nudges.overdueReminderAfterDays (2)" },
  ]);
  t.is(((await h.broker.call("onboarding.getSettings", {}, hr)) as any).updatedAt, null, "nothing half-written");

  await h.hired("boss@c.test");
  await h.hired("jo@c.test", { managerId: oid("boss@c.test") });
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(5) });
  const reasons = async () =>
    ((await h.broker.call("onboarding.needsAttention", {}, hr)) as any).items.map((i: any) => i.reason).sort();
  // Five days before the start: no buddy yet is fine by default (day −3), flagged from day −7.
  t.false((await reasons()).includes("no-buddy"));
  await h.broker.call("onboarding.updateSettings", { attention: { noBuddyByDay: -7 } }, hr);
  t.true((await reasons()).includes("no-buddy"));
  // A pre-boarding task one day late (known for longer): listed at once by default, not with a 3-day grace.
  await h.sql(`update onboarding.journeys set started_at = now() - interval '10 days'`);
  await h.sql(`update onboarding.tasks set status = 'done' where step_key <> 'welcome'`);
  await h.sql(`update onboarding.tasks set due_at = now() - interval '1 day' where step_key = 'welcome'`);
  t.true((await reasons()).includes("overdue-task"));
  await h.broker.call("onboarding.updateSettings", { attention: { overdueTaskAfterDays: 3 } }, hr);
  t.false((await reasons()).includes("overdue-task"));
  // A buddy request unanswered for three days: listed after the default two, not after five.
  const [journey] = await h.sql(`select id from onboarding.journeys`);
  await h.broker.call("onboarding.assignBuddy", { journeyId: journey.id, buddyId: oid("jo@c.test") }, hr);
  await h.sql(`update onboarding.journeys set buddy_assigned_at = now() - interval '3 days'`);
  t.true((await reasons()).includes("buddy-not-accepted"));
  await h.broker.call("onboarding.updateSettings", { attention: { buddyResponseDays: 5 } }, hr);
  t.false((await reasons()).includes("buddy-not-accepted"));
  // Day 20 without the first buddy meeting: listed by day 14 (the default), not by day 30.
  await h.sql(`update onboarding.journeys set hire_date = $1, started_at = now() - interval '25 days'`, [dateIn(-20)]);
  await h.sql(`update onboarding.tasks set status = 'open' where step_key = 'first-buddy-meeting'`);
  t.true((await reasons()).includes("no-buddy-meeting"));
  await h.broker.call("onboarding.updateSettings", { attention: { firstBuddyMeetingByDay: 30 } }, hr);
  t.false((await reasons()).includes("no-buddy-meeting"));
  // Nudge days: one day late is overdue, three is escalated to the new hire's manager.
  const settings = (await h.broker.call(
    "onboarding.updateSettings",
    { nudges: { overdueReminderAfterDays: 1, escalateAfterDays: 3 } },
    hr,
  )) as any;
  t.like(settings, { attention: { noBuddyByDay: -7, overdueTaskAfterDays: 3, buddyResponseDays: 5 } });
  const [welcome] = await h.sql(`select id, due_at from onboarding.tasks where step_key = 'welcome'`);
  const after = (days: number) => new Date(new Date(welcome.due_at).getTime() + days * DAY).toISOString();
  t.like(await h.broker.call("onboarding.runNudges", { now: after(1.5) }), { overdue: 1, escalated: 0 });
  t.like(await h.broker.call("onboarding.runNudges", { now: after(3.5) }), { escalated: 1 });
  t.deepEqual(
    h.sent.filter((s) => s.dedupeKey.startsWith(`onboarding:task:${welcome.id}`)).map((s) => s.userIds[0]),
    [oid("ada@c.test"), oid("boss@c.test")],
  );
});

test("the buddy rules, weights and the calendar are settings the matcher and the due dates follow", async (t) => {
  const h = await start(t);
  const hr = h.as("hr@c.test", ["HR"]);
  await h.hired("boss@c.test");
  // Three months in: below the default six-month tenure floor.
  await h.hired("jo@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(-90) });
  await h.broker.call(
    "onboarding.updateMyBuddyProfile",
    { optedIn: true, interests: [], languages: ["de"], capacity: 1 },
    h.as("jo@c.test"),
  );
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: "2030-03-04" });
  t.is(((await h.broker.call("onboarding.runBuddyMatching", {}, hr)) as any).matches.length, 0);
  await h.broker.call("onboarding.updateSettings", { buddyRules: { minTenureMonths: 2 } }, hr);
  const matched = (await h.broker.call("onboarding.runBuddyMatching", {}, hr)) as any;
  t.is(matched.matches[0]?.buddyId, oid("jo@c.test"));
  t.regex(matched.matches[0].explanation, /same department/);
  // Weights: the department counts for nothing now (a decline rematches with the new weights; nobody is left).
  await h.broker.call("onboarding.updateSettings", { buddyWeights: { department: 0 } }, hr);
  const override = (await h.broker.call(
    "onboarding.assignBuddy",
    { journeyId: matched.matches[0].journeyId, buddyId: oid("jo@c.test") },
    hr,
  )) as any;
  t.is(Math.round((matched.matches[0].score - override.score) * 1000), 3000, "the department's 3 points are gone");
  t.deepEqual(override.warnings, ["cool-down"], "the buddy was proposed a moment ago");
  // A company closure on day one moves the open tasks due that day to the next working day.
  const dayOne = async () =>
    (await h.sql(`select due_date from onboarding.tasks where step_key = 'day-one-setup'`))[0].due_date;
  t.is(await dayOne(), "2030-03-04");
  await h.broker.call("onboarding.updateSettings", { calendar: { extraClosedDays: { "*": ["2030-03-04"] } } }, hr);
  t.is(await dayOne(), "2030-03-05");
  const refused = await t.throwsAsync(
    h.broker.call("onboarding.updateSettings", { calendar: { weekend: [6, 6] } }, hr),
  );
  t.deepEqual((refused as any).data.fields, [{ field: "calendar.weekend", message: "a weekday is listed twice" }]);
});

test("a step that needs no confirmation gets its reminder without a button and is done once due", async (t) => {
  const h = await start(t);
  await h.hired("boss@c.test");
  await h.hired("jo@c.test", { managerId: oid("boss@c.test") });
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: dateIn(10) });
  const [journey] = await h.sql(`select id from onboarding.journeys`);
  await h.broker.call(
    "onboarding.assignBuddy",
    { journeyId: journey.id, buddyId: oid("jo@c.test") },
    h.as("hr@c.test", ["HR"]),
  );
  const [intro] = await h.sql(`select * from onboarding.tasks where step_key = 'buddy-intro'`);
  t.false(intro.requires_confirmation);
  await h.sql(`update onboarding.tasks set status = 'done' where step_key <> 'buddy-intro'`);
  await h.sql(`update onboarding.tasks set due_at = now() + interval '2 hours' where id = $1`, [intro.id]);
  t.like(await h.broker.call("onboarding.runNudges", {}), { dueToday: 1, closed: 0 });
  const reminder = h.sent.find((s) => s.dedupeKey === `onboarding:task:${intro.id}:due`);
  t.is(reminder?.userIds[0], oid("jo@c.test"));
  t.like(await h.broker.call("onboarding.runNudges", { now: new Date(Date.now() + 3 * 3_600_000).toISOString() }), {
    dueToday: 0,
    overdue: 0,
    closed: 1,
  });
  const after = (await h.broker.call("onboarding.getJourney", { id: journey.id }, h.as("ada@c.test"))) as any;
  t.is(after.status, "completed", "it was the last open step");
  const [event] = await h.sql(`select payload from onboarding.outbox where event = 'onboarding.task.completed'`);
  t.like(event.payload, { taskId: intro.id, late: false, completedBy: null });
});

test("employee.left ends the journey; a running journey keeps its template version; HR's cohorts count progress", async (t) => {
  const h = await start(t);
  const hr = h.as("hr@c.test", ["HR"]);
  await h.hired("ada@c.test", { hireDate: "2030-03-04" });
  const [before] = await h.sql(`select template_id from onboarding.journeys`);
  const [v1] = await h.sql(`select steps from onboarding.templates where id = $1`, [before.template_id]);
  await h.broker.call("onboarding.saveTemplate", { name: "Hearth default journey", steps: v1.steps.slice(0, 2) }, hr);
  const ada = (await h.broker.call("onboarding.getMyJourney", {}, h.as("ada@c.test"))) as any;
  t.like(ada.journey, { templateVersion: 1, progress: { done: 0, total: 10 } });
  await h.hired("bo@c.test", { hireDate: "2030-03-04", department: "Sales" });
  const bo = (await h.broker.call("onboarding.getMyJourney", {}, h.as("bo@c.test"))) as any;
  t.like(bo.journey, { templateVersion: 2, progress: { done: 0, total: 2 } });
  const boTask = bo.journey.tasks.find((x: any) => x.owner === "newHire");
  await h.broker.call("onboarding.completeTask", { id: boTask.id }, h.as("bo@c.test"));
  const reports = (await h.broker.call("onboarding.getReports", {}, hr)) as any;
  t.deepEqual(reports.cohorts, [
    { startMonth: "2030-03", department: "Engineering", journeys: 1, completed: 0, tasksDone: 0, tasksTotal: 10 },
    { startMonth: "2030-03", department: "Sales", journeys: 1, completed: 0, tasksDone: 1, tasksTotal: 2 },
  ]);
  // Three weeks in with a buddy: ada's journey has a first-buddy-meeting step still open, bo's template has none.
  await h.hired("jo@c.test");
  for (const journeyId of [ada.journey.id, bo.journey.id])
    await h.broker.call("onboarding.assignBuddy", { journeyId, buddyId: oid("jo@c.test") }, hr);
  await h.sql(`update onboarding.journeys set hire_date = $1, started_at = now() - interval '21 days'`, [dateIn(-21)]);
  const flagged = ((await h.broker.call("onboarding.needsAttention", {}, hr)) as any).items
    .filter((i: any) => i.reason === "no-buddy-meeting")
    .map((i: any) => i.newHireId);
  t.deepEqual(flagged, [oid("ada@c.test")]);
  await h.deliver("employee.left", { objectId: oid("ada@c.test"), leaveDate: "2030-02-01", reason: "disabled" });
  const [ended] = await h.sql(`select status from onboarding.journeys where new_hire_id = $1`, [oid("ada@c.test")]);
  t.is(ended.status, "ended");
  const gone = (await h.broker.call("onboarding.getMyJourney", {}, h.as("ada@c.test"))) as any;
  t.is(gone.journey, null);
  await t.throwsAsync(h.broker.call("onboarding.completeTask", { id: ada.journey.tasks[1].id }, h.as("ada@c.test")), {
    message: /not valid|ended/,
  });
});

test("an HR owner named before the directory knew them (the demo seed) takes the HR steps waiting for one", async (t) => {
  const h = await start(t);
  await h.sql(`insert into onboarding.settings (tenant_id, config, updated_at) values ($1, $2, now())`, [
    h.tenantId,
    JSON.stringify({ hrOwnerIds: [oid("hr@c.test")] }),
  ]);
  await h.hired("ada@c.test", { hireDate: dateIn(10) });
  const owner = async () => (await h.sql(`select owner_id from onboarding.tasks where owner = 'hr'`))[0].owner_id;
  t.is(await owner(), null);
  await h.hired("hr@c.test");
  t.is(await owner(), oid("hr@c.test"));
});

test("a new hire's new manager takes over the manager's open steps and the escalations", async (t) => {
  const h = await start(t);
  await h.hired("boss@c.test");
  await h.hired("boss2@c.test", { timeZone: "America/New_York", country: "US" });
  await h.hired("ada@c.test", { managerId: oid("boss@c.test"), hireDate: "2030-03-04" });
  const [done] = await h.sql(`select id from onboarding.tasks where step_key = 'prepare-equipment'`);
  await h.broker.call("onboarding.completeTask", { id: done.id }, h.as("boss@c.test"));
  await h.deliver("employee.updated", {
    objectId: oid("ada@c.test"),
    fields: ["managerId"],
    changes: { managerId: oid("boss2@c.test") },
  });
  const tasks = await h.sql(
    `select step_key, owner_id, owner_time_zone, status from onboarding.tasks where owner = 'manager'`,
  );
  const byKey = Object.fromEntries(tasks.map((x) => [x.step_key, x]));
  t.like(byKey["prepare-equipment"], { owner_id: oid("boss@c.test"), status: "done" }, "done work keeps its author");
  t.like(byKey["meet-the-team"], { owner_id: oid("boss2@c.test"), owner_time_zone: "America/New_York" });
  const [journey] = await h.sql(`select manager_id from onboarding.journeys`);
  t.is(journey.manager_id, oid("boss2@c.test"));
  const theirs = (await h.broker.call("onboarding.listMyTasks", { status: "open" }, h.as("boss2@c.test"))) as any;
  t.deepEqual(
    theirs.items.map((x: any) => x.stepKey),
    ["meet-the-team", "check-in-30", "check-in-60"],
  );
  const before = (await h.broker.call("onboarding.listMyTasks", { status: "open" }, h.as("boss@c.test"))) as any;
  t.is(before.items.length, 0);
});
