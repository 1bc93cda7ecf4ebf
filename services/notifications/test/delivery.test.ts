// Notifications through the real m365 service (a child node over NATS) and the Graph emulator with throttling on,
// on a scaled clock: Microsoft's bulk feed limit (2 calls per second) becomes 2 per 1/SCALE s in both the emulator
// and m365's budget. The notifications service runs in this process with a clock the test can move.
import path from "node:path";
import { type GraphEmulator, m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import {
  type ChildNode,
  createTestEnvironment,
  query,
  spawnNode,
  startBroker,
  type TestEnvironment,
  waitFor,
} from "@hearth/testkit";
import test from "ava";
import type moleculer from "moleculer";
import { createNotificationsService } from "../src/notifications.service.ts";
import { rollOutTeamsApp } from "./fixtures/teams-app.ts";

const SCALE = 10;
const M365_SERVICE = path.join(import.meta.dirname, "..", "..", "m365", "src", "m365.service.ts");
// A Wednesday, 10:00 in Berlin (the default zone): inside the default working hours.
const BASE = Date.parse("2026-12-02T09:00:00Z");

let env: TestEnvironment;
let emulator: GraphEmulator;
let m365: ChildNode;
let broker: moleculer.ServiceBroker;
const clock = { offsetMs: 0, startedAt: Date.now() };
const now = () => new Date(BASE + clock.offsetMs + (Date.now() - clock.startedAt));

test.before(async () => {
  emulator = await startGraphEmulator({
    port: 0,
    tenant: { users: 10_050, seed: "hearth-notifications" },
    timeScale: SCALE,
  });
  env = await createTestEnvironment();
  m365 = spawnNode({
    serviceModules: [M365_SERVICE],
    env: {
      ...env.env,
      ...m365ClientEnv(emulator),
      M365_LIMITS: JSON.stringify({ teamsBulkActivity: { periodSeconds: 1 / SCALE } }),
    },
  });
  await m365.ready;
  broker = await startBroker(env.config, [
    createNotificationsService({
      now,
      pollMs: 100,
      backoffBaseMs: 200,
      leaseMs: 60_000,
      mailSenderId: emulator.control.tenant.records.find((r) => r.mailbox)!.data.id as string,
    }),
  ]);
  await waitFor(
    "m365 service",
    async () => broker.registry.getServiceList({ onlyAvailable: true }) as unknown as Array<{ name: string }>,
    (list) => list.some((s) => s.name === "m365"),
    15_000,
  );
});
test.after.always(async () => {
  await broker?.stop();
  await m365?.stop();
  await emulator?.close();
  await env?.cleanup();
});

const users = () => emulator.control.tenant.records.filter((r) => !r.removed).map((r) => r.data.id as string);
const asMe = (objectId: string) => ({
  meta: { caller: { tenantId: "7f1c4c3e-5a0b-4d2e-9a51-3c8f2b6d0e11", objectId, roles: ["Employee"] } },
});
type Status = { counts: Record<string, number>; items: Array<{ status: string; reason: string | null }> };
const statusOf = (requestId: string) =>
  broker.call("notifications.getStatus", { requestId, limit: 10 }) as Promise<Status>;
/** Notifies one person and waits until it was sent to them: the request's id and status. */
async function sendToOne(person: string, request: Record<string, unknown>) {
  const { requestId } = (await broker.call("notifications.notify", {
    audience: { userIds: [person] },
    ...request,
  })) as { requestId: string };
  const status = await waitFor(
    "sent",
    () => statusOf(requestId),
    (s) => s.counts.sent === 1,
    30_000,
  );
  return { requestId, status };
}

test.serial("fan-out to 10,000 people: each gets exactly one, near the floor set by the bulk limit", async (t) => {
  const recipients = users().slice(0, 10_000);
  await rollOutTeamsApp(emulator, env.env.DATABASE_URL!, recipients);
  const started = Date.now();
  const accepted = (await broker.call("notifications.notify", {
    audience: { userIds: recipients },
    templateId: "announcement",
    data: { title: "Town hall on Friday", body: "Bring your questions." },
    priority: "high",
    dedupeKey: "town-hall-2026-12",
  })) as { requestId: string; accepted: number; suppressed: number };
  t.is(accepted.accepted, 10_000);
  await waitFor(
    "all sent",
    () => statusOf(accepted.requestId),
    (s) => (s.counts.sent ?? 0) + (s.counts.deadLettered ?? 0) === 10_000,
    180_000,
  );
  const seconds = (Date.now() - started) / 1000;
  // 100 bulk calls at 2 per (1/SCALE) s: the first 2 go at once, the rest at the rate.
  const floor = (100 - 2) / (2 * SCALE);
  t.log(
    `10,000 recipients in ${seconds.toFixed(2)} s; floor ${floor.toFixed(2)} s; ratio ${(seconds / floor).toFixed(2)}`,
  );
  const status = await statusOf(accepted.requestId);
  t.is(status.counts.sent, 10_000);
  t.deepEqual(
    recipients.filter((id) => emulator.control.activities(id).length !== 1),
    [],
    "everyone has exactly one activity",
  );

  // The same dedupe key again: nothing new is queued or sent.
  const again = (await broker.call("notifications.notify", {
    audience: { userIds: recipients.slice(0, 500) },
    templateId: "announcement",
    data: { title: "Town hall on Friday", body: "Bring your questions." },
    priority: "high",
    dedupeKey: "town-hall-2026-12",
  })) as { requestId: string; accepted: number; suppressed: number };
  t.deepEqual(again, { requestId: accepted.requestId, accepted: 0, suppressed: 500 });
  await new Promise((r) => setTimeout(r, 500));
  t.is(emulator.control.activities(recipients[0]!).length, 1);
});

test.serial("someone without the Teams app: installed through Graph first, so the feed reaches them", async (t) => {
  const person = users()[10_035]!;
  t.deepEqual(emulator.control.tenant.teamwork.installedFor(person), []);
  await sendToOne(person, {
    templateId: "announcement",
    data: { title: "Canteen closed on Monday", body: "Food trucks outside." },
    priority: "urgent",
    dedupeKey: "canteen-closed-no-app",
  });
  t.deepEqual(
    emulator.control.tenant.teamwork.installedFor(person).map((i) => i.teamsAppId),
    [emulator.control.teamsApp().id],
  );
  t.is(emulator.control.activities(person).length, 1);
  t.deepEqual(
    emulator.control.tenant.teamwork.undelivered.filter((u) => u.recipientId === person),
    [],
    "Graph dropped nothing",
  );
});

test.serial("quiet hours defer until they end; low priority gathers into one daily digest", async (t) => {
  const [quiet, digest] = users().slice(10_000, 10_002) as [string, string];
  emulator.control.installApp(quiet);
  emulator.control.installApp(digest);
  await broker.call(
    "notifications.updateMyPreferences",
    { quietHours: { start: "09:00", end: "11:00" }, timeZone: "Europe/Berlin" },
    asMe(quiet),
  );
  await broker.call(
    "notifications.updateMyPreferences",
    { digestTime: "12:00", timeZone: "Europe/Berlin" },
    asMe(digest),
  );
  const first = (await broker.call("notifications.notify", {
    audience: { userIds: [quiet] },
    templateId: "announcement",
    data: { title: "Coffee", body: "In the kitchen" },
    priority: "normal",
    dedupeKey: "coffee-1",
  })) as { requestId: string };
  const lows = [];
  for (const n of [1, 2, 3]) {
    lows.push(
      (await broker.call("notifications.notify", {
        audience: { userIds: [digest] },
        templateId: "announcement",
        data: { title: `News ${n}`, body: "…" },
        priority: "low",
        dedupeKey: `news-${n}`,
      })) as { requestId: string },
    );
  }
  const deferred = await waitFor(
    "deferred",
    () => statusOf(first.requestId),
    (s) => s.counts.deferred === 1,
    10_000,
  );
  t.is(deferred.items[0]!.reason, "quietHours");
  for (const low of lows) {
    await waitFor(
      "digest deferred",
      () => statusOf(low.requestId),
      (s) => s.counts.deferred === 1,
      10_000,
    );
  }
  t.is(emulator.control.activities(quiet).length, 0);
  t.is(emulator.control.activities(digest).length, 0);

  // 11:05 in Berlin: quiet hours are over; 12:05: the digest is due.
  clock.offsetMs += 65 * 60_000;
  await waitFor(
    "quiet one sent",
    () => statusOf(first.requestId),
    (s) => s.counts.sent === 1,
    10_000,
  );
  t.is(emulator.control.activities(quiet).length, 1);
  t.is(emulator.control.activities(digest).length, 0);
  clock.offsetMs += 60 * 60_000;
  await waitFor(
    "digest sent",
    async () => emulator.control.activities(digest).length,
    (n) => n === 1,
    10_000,
  );
  for (const low of lows) t.is((await statusOf(low.requestId)).items[0]!.reason, "in digest");
  await new Promise((r) => setTimeout(r, 300));
  t.is(emulator.control.activities(digest).length, 1, "three low-priority notifications, one digest");
});

test.serial(
  "an actionable notification: a Teams card with Action.Execute, the feed and mail, in the person's language",
  async (t) => {
    const person = users()[10_020]!;
    // What the employee.hired consumer keeps for a person.
    await query(
      env.env.DATABASE_URL!,
      `insert into notifications.recipient (user_id, display_name, mail, time_zone, language, "left", updated_at)
     values ($1, 'Greta Schmidt', 'greta.schmidt@contoso.example', 'Europe/Berlin', 'de-DE', false, now())`,
      [person],
    );
    await broker.call(
      "notifications.updateMyPreferences",
      { channels: { teamsCard: true, activityFeed: true, mail: true } },
      asMe(person),
    );
    const { status } = await sendToOne(person, {
      templateId: "onboarding.task-due",
      data: { taskTitle: "Laptop einrichten", dueAt: "2026-12-03T08:00:00Z", description: "Die IT hat ihn bereit." },
      priority: "high",
      dedupeKey: "task-laptop-greta",
      actions: [{ verb: "onboarding.completeTask", title: "Erledigt", data: { taskId: "t-1" } }],
    });
    t.deepEqual([...(status.items[0] as unknown as { channels: string[] }).channels].sort(), [
      "activityFeed",
      "mail",
      "teamsCard",
    ]);
    const conversation = emulator.bot.conversationWith(person)!;
    t.is(conversation.activities.length, 1);
    const card = (conversation.activities[0]!.activity.attachments as Array<{ content: Record<string, any> }>)[0]!
      .content;
    t.regex(card.body[0].text, /^Aufgabe fällig: Laptop einrichten/);
    t.like(card.actions.at(-1), { type: "Action.Execute", verb: "onboarding.completeTask", data: { taskId: "t-1" } });
    t.is(emulator.control.activities(person).length, 1);
    const mail = emulator.control.sentMail().at(-1)!;
    t.deepEqual(mail.to, ["greta.schmidt@contoso.example"]);
    t.regex(mail.subject, /Onboarding-Aufgabe fällig: Laptop einrichten/);
  },
);

test.serial("employee events keep the person's language and zone: a hire in Vienna gets German", async (t) => {
  const person = users()[10_030]!;
  const service = broker.getLocalService("notifications") as unknown as {
    schema: { domainEvents: Record<string, (this: unknown, event: unknown, em: unknown) => Promise<void>> };
    em(): { transactional<T>(work: (em: unknown) => Promise<T>): Promise<T> };
  };
  const handle = (name: string, payload: Record<string, unknown>) =>
    service
      .em()
      .transactional((em) =>
        service.schema.domainEvents[name]!.call(
          service,
          { id: crypto.randomUUID(), name, payload, occurredAt: new Date().toISOString(), source: "people" },
          em,
        ),
      );
  await handle("employee.hired", {
    tenantId: "7f1c4c3e-5a0b-4d2e-9a51-3c8f2b6d0e11",
    objectId: person,
    displayName: "Lena Huber",
    mail: "lena.huber@contoso.example",
    department: "Sales",
    jobTitle: "Account Executive",
    managerId: null,
    country: "AT",
    timeZone: "Europe/Vienna",
    preferredLanguage: "de-AT",
    hireDate: "2026-12-01",
    source: "graph",
  });
  await handle("employee.updated", {
    tenantId: "7f1c4c3e-5a0b-4d2e-9a51-3c8f2b6d0e11",
    objectId: person,
    fields: ["displayName"],
    changes: { displayName: "Lena Huber-Maier" },
  });
  emulator.control.installApp(person);
  const { requestId } = await sendToOne(person, {
    templateId: "pulse.survey-open",
    data: { surveyTitle: "Dezember-Puls", question: "Wie geht es dir?", closesAt: "2026-12-09T17:00:00Z" },
    priority: "high",
    dedupeKey: "pulse-lena",
  });
  const [activity] = emulator.control.activities(person) as unknown as Array<Record<string, any>>;
  t.regex(JSON.stringify(activity), /Neue Pulsumfrage: Dezember-Puls \(endet Mittwoch, 9\. Dezember 2026\)/);
  await handle("employee.erased", { tenantId: "7f1c4c3e-5a0b-4d2e-9a51-3c8f2b6d0e11", objectId: person });
  t.is(((await statusOf(requestId)) as Status).items.length, 0, "erasure removes the person's notifications");
});

test.serial("a person Teams no longer knows: dead-lettered with the reason, and the event goes out", async (t) => {
  const person = users()[10_040]!;
  await broker.call(
    "notifications.updateMyPreferences",
    { channels: { teamsCard: true, activityFeed: false, mail: false } },
    asMe(person),
  );
  emulator.control.remove(person);
  const { requestId } = (await broker.call("notifications.notify", {
    audience: { userIds: [person] },
    templateId: "onboarding.task-due",
    data: { taskTitle: "Sign the NDA", dueAt: "2026-12-03T08:00:00Z", description: "" },
    priority: "high",
    dedupeKey: "nda-removed-person",
    actions: [{ verb: "onboarding.completeTask", title: "Done", data: { taskId: "t-9" } }],
  })) as { requestId: string };
  const status = await waitFor(
    "dead-lettered",
    () => statusOf(requestId),
    (s) => s.counts.deadLettered === 1,
    60_000,
  );
  t.regex(status.items[0]!.reason!, /^teamsCard: /);
  const overview = (await broker.call(
    "notifications.getDeliveryStatus",
    { requestId, limit: 10 },
    { meta: { caller: { tenantId: "7f1c4c3e-5a0b-4d2e-9a51-3c8f2b6d0e11", objectId: person, roles: ["HR"] } } },
  )) as { deadLetters: Array<{ userId: string; reason: string }> };
  t.deepEqual(
    overview.deadLetters.map((d) => d.userId),
    [person],
  );
  const events = await query(
    env.env.DATABASE_URL!,
    `select payload from notifications.outbox where event = 'notification.dead-lettered'`,
  );
  t.true(events.some((e: { payload: { userId: string } }) => e.payload.userId === person));
});

test.serial(
  "survey-load governor: feedback requests over the cap are suppressed and reported as blocked",
  async (t) => {
    const person = users()[10_010]!;
    for (let i = 0; i < 5; i++) {
      const r = (await broker.call("notifications.notify", {
        audience: { userIds: [person] },
        templateId: "pulse.survey-open",
        data: { surveyTitle: `Pulse ${i}`, question: "How are you?", closesAt: "2026-12-09T17:00:00Z" },
        priority: "normal",
        kind: "feedbackRequest",
        dedupeKey: `pulse-${i}`,
      })) as { accepted: number; suppressed: number };
      t.deepEqual([r.accepted, r.suppressed], i < 4 ? [1, 0] : [0, 1]);
    }
    const load = (await broker.call("notifications.checkSurveyLoad", {
      userIds: [person, users()[10_011]!],
      kind: "feedbackRequest",
      period: "month",
    })) as { users: Array<{ allowed: boolean; count: number }> };
    t.deepEqual(
      load.users.map((u) => [u.allowed, u.count]),
      [
        [false, 4],
        [true, 0],
      ],
    );
  },
);

test.serial("bad input names the field and writes nothing", async (t) => {
  const error = await t.throwsAsync(
    broker.call("notifications.notify", {
      audience: { userIds: [users()[0]] },
      templateId: "no.such-template",
      data: {},
      priority: "normal",
      dedupeKey: "x-1",
    }),
  );
  t.deepEqual(
    (error as { data?: { fields?: Array<{ field: string }> } }).data?.fields?.map((f) => f.field),
    ["templateId"],
  );
});
