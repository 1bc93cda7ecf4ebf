// Mail, Teams app installation and the activity feed through the real m365 service (child node, NATS) against the
// Graph emulator with Microsoft's Teams limits on the real clock.
import type { GraphEmulator } from "@hearth/graph-emulator";
import { call } from "@hearth/platform";
import { query } from "@hearth/testkit";
import test from "ava";
import { type M365Cluster, startM365Cluster } from "./fixtures/m365-cluster.ts";

let cluster: M365Cluster;
let emulator: GraphEmulator;

test.before(async () => {
  cluster = await startM365Cluster({ tenant: { users: 600, seed: "hearth-m365-messaging" }, timeScale: 1 });
  emulator = cluster.emulator;
});
test.after.always(() => cluster?.close());

const ctx = () => cluster.ctx();
const users = () => emulator.control.tenant.records.filter((r) => !r.removed);
/** What Teams' install events leave behind when an admin's setup policy installed the app: m365 knows it is there. */
async function knownInstalled(ids: string[]) {
  for (const id of ids) emulator.control.installApp(id);
  await query(
    cluster.env.env.DATABASE_URL!,
    `insert into m365.teams_app_installation (user_id, source, confirmed_at)
     select u, 'bot', now() from unnest($1::uuid[]) as u on conflict do nothing`,
    [ids],
  );
}
const activity = {
  activityType: "taskDue",
  previewText: "Set up your laptop is due today",
  topic: { source: "text" as const, value: "Onboarding", webUrl: "https://teams.microsoft.com/l/entity/hearth/tasks" },
};

test.serial(
  "sendMail: the mail reaches the tenant from the sender's mailbox; a sender without one is refused",
  async (t) => {
    const sender = users().find((r) => r.mailbox)!;
    const result = await call(ctx(), "m365.sendMail", {
      senderId: sender.data.id,
      to: ["new.hire@contoso.example"],
      cc: ["buddy@contoso.example"],
      subject: "Welcome to Contoso",
      html: "<p>Your first day is Monday.</p>",
    });
    t.deepEqual(result, { accepted: true });
    t.like(emulator.control.sentMail().at(-1), {
      senderId: sender.data.id,
      subject: "Welcome to Contoso",
      contentType: "html",
      to: ["new.hire@contoso.example"],
      cc: ["buddy@contoso.example"],
    });
    const noMailbox = emulator.control.hire({ hasMailbox: false });
    const error = await t.throwsAsync(
      call(ctx(), "m365.sendMail", {
        senderId: noMailbox.id,
        to: ["a@contoso.example"],
        subject: "x",
        html: "<p>x</p>",
      }),
    );
    t.is((error as { type?: string }).type, "M365_GRAPH_ERROR");
    t.regex(error!.message, /MailboxNotEnabledForRESTAPI/);
    const invalid = await t.throwsAsync(
      call(ctx(), "m365.sendMail", { senderId: sender.data.id, to: ["not-an-address"], subject: "x", html: "x" }),
    );
    t.deepEqual(
      ((invalid as { data?: { fields?: Array<{ field: string }> } }).data?.fields ?? []).map((f) => f.field),
      ["to.0"],
    );
  },
);

test.serial("installAppForUser: installed once; a second call says it already was", async (t) => {
  const person = users()[10]!.data.id;
  t.deepEqual(await call(ctx(), "m365.installAppForUser", { userId: person }), { status: "installed" });
  t.deepEqual(await call(ctx(), "m365.installAppForUser", { userId: person }), { status: "alreadyInstalled" });
  const installed = emulator.control.tenant.teamwork.installedFor(person);
  t.deepEqual(
    installed.map((i) => i.teamsAppId),
    [emulator.control.teamsApp().id],
  );
});

test.serial(
  "activity feed to 450 people: the app installed first for those without it, bulk calls of 100 within 2 per second",
  async (t) => {
    const recipients = users()
      .slice(100, 550)
      .map((r) => r.data.id);
    const withApp = recipients.filter((_, i) => i % 3 !== 0);
    await knownInstalled(withApp);
    const { results } = await call(ctx(), "m365.sendActivityNotifications", {
      recipientIds: [...recipients, recipients[0]!],
      ...activity,
      templateParameters: [{ name: "taskName", value: "Set up your laptop" }],
    });
    // Duplicates are sent once; every chunk was accepted.
    t.is(results.length, recipients.length);
    t.true(results.every((r) => r.status === "accepted"));
    // Graph would have dropped the third without the app silently: m365 installed it for them first.
    t.deepEqual(
      results.filter((r) => r.installed).map((r) => r.userId),
      recipients.filter((_, i) => i % 3 === 0),
    );
    t.deepEqual(
      recipients.map((id) => emulator.control.activities(id).length),
      recipients.map(() => 1),
    );
    t.deepEqual(
      emulator.control.tenant.teamwork.undelivered.filter((u) => recipients.includes(u.recipientId)),
      [],
    );
    const deliveredAt = recipients.flatMap((id) =>
      emulator.control.activities(id).map((a) => Date.parse(a.deliveredAt)),
    );
    // Five bulk calls at ≤ 2 per second (the budget keeps 90 %): they span at least ~1.5 s.
    t.true(Math.max(...deliveredAt) - Math.min(...deliveredAt) >= 1400, "the bulk calls were paced by the budget");
    // Now m365 knows: the next feed to them installs nothing.
    const again = await call(ctx(), "m365.sendActivityNotifications", {
      recipientIds: recipients.slice(0, 3),
      ...activity,
    });
    t.deepEqual(
      again.results.map((r) => r.installed ?? false),
      [false, false, false],
    );
  },
);

test.serial(
  "with an idempotency key a repeated feed call sends nobody twice, also for a part of its people",
  async (t) => {
    const recipients = users()
      .slice(0, 250)
      .map((r) => r.data.id);
    await knownInstalled(recipients);
    const before = (id: string) => emulator.control.activities(id).length;
    const counts = new Map(recipients.map((id) => [id, before(id)]));
    const params = { recipientIds: recipients, ...activity, idempotencyKey: "announcement-42:0:en:Europe/Berlin" };
    const first = await call(ctx(), "m365.sendActivityNotifications", params);
    t.true(first.results.every((r) => r.status === "accepted"));
    // The caller lost the answer and asks again, whole and in part (another replica claimed the rest).
    const repeat = await call(ctx(), "m365.sendActivityNotifications", params);
    const part = await call(ctx(), "m365.sendActivityNotifications", {
      ...params,
      recipientIds: recipients.slice(120, 180),
    });
    t.deepEqual(repeat.results, first.results);
    t.is(part.results.length, 60);
    t.true(part.results.every((r) => r.status === "accepted"));
    t.deepEqual(
      recipients.filter((id) => before(id) !== counts.get(id)! + 1),
      [],
      "everyone got exactly one",
    );
  },
);

test.serial(
  "a repeat sends the chunks a dead node left unfinished and answers the accepted ones from the record",
  async (t) => {
    const [done, open] = [users().slice(250, 300), users().slice(300, 350)].map((rs) => rs.map((r) => r.data.id));
    await knownInstalled([...done!, ...open!]);
    const count = (id: string) => emulator.control.activities(id).length;
    const before = new Map([...done!, ...open!].map((id) => [id, count(id)]));
    // What an m365 node leaves when it dies between two bulk calls: chunk 0 accepted by Graph, chunk 1 claimed
    // (its claim has run out) but never answered.
    await query(
      cluster.env.env.DATABASE_URL!,
      `insert into m365.feed_send_chunk (idempotency_key, chunk, recipient_ids, state, owner, claimed_until, updated_at)
       values ('dead-node', 0, $1::jsonb, 'accepted', null, null, now()),
              ('dead-node', 1, $2::jsonb, 'pending', gen_random_uuid(), now() - interval '1 second', now())`,
      [JSON.stringify(done), JSON.stringify(open)],
    );
    const { results } = await call(ctx(), "m365.sendActivityNotifications", {
      recipientIds: [...done!, ...open!],
      ...activity,
      idempotencyKey: "dead-node",
    });
    t.true(results.every((r) => r.status === "accepted"));
    t.deepEqual(
      done!.map((id) => count(id) - before.get(id)!),
      done!.map(() => 0),
      "the accepted chunk is not sent again (here: it never was, which shows the record is what answers)",
    );
    t.deepEqual(
      open!.map((id) => count(id) - before.get(id)!),
      open!.map(() => 1),
    );
  },
);

test.serial(
  "createEvent: a Teams meeting with a joinUrl, once per transactionId; attendees' answers come back",
  async (t) => {
    const organizer = users().find((r) => r.mailbox)!.data.id;
    const event = {
      organizerId: organizer,
      subject: "Welcome coffee with your buddy",
      bodyHtml: "<p>Let's meet.</p>",
      start: "2026-12-01T09:30:00",
      end: "2026-12-01T10:00:00",
      timeZone: "Europe/Berlin",
      attendees: [
        { email: "new.hire@contoso.example", type: "required" as const },
        { email: "buddy@contoso.example", type: "optional" as const },
      ],
      isOnlineMeeting: true,
      transactionId: "onboarding-journey-7-welcome-coffee",
    };
    const created = await call(ctx(), "m365.createEvent", event);
    t.regex(created.joinUrl!, /^https:\/\/teams\.microsoft\.com\/l\/meetup-join\//);
    t.truthy(created.webLink);
    // A retry (same transactionId) gets the same event, and the calendar holds one.
    t.is((await call(ctx(), "m365.createEvent", event)).eventId, created.eventId);
    t.is(emulator.control.events(organizer).length, 1);
    t.like(emulator.control.events(organizer)[0], { start: { timeZone: "Europe/Berlin" }, isOnlineMeeting: true });

    emulator.control.respond(created.eventId, "new.hire@contoso.example", "accepted");
    const { attendees } = await call(ctx(), "m365.readEventResponses", {
      organizerId: organizer,
      eventId: created.eventId,
    });
    t.deepEqual(
      attendees.map((a) => [a.email, a.response, a.time === null]),
      [
        ["new.hire@contoso.example", "accepted", false],
        ["buddy@contoso.example", "none", true],
      ],
    );
    const missing = await t.throwsAsync(
      call(ctx(), "m365.readEventResponses", { organizerId: organizer, eventId: "AAMkADnope" }),
    );
    t.regex(missing!.message, /ErrorItemNotFound/);
  },
);

test.serial(
  "a cached token with less than 45 minutes left is replaced before the bulk feed refuses it (412)",
  async (t) => {
    const recipient = users()[560]!.data.id;
    emulator.control.installApp(recipient);
    // A node whose first token lives 44 minutes (Entra's usual is 60–90): MSAL would hand it out for 40 more.
    emulator.control.setTokenLifetime(44 * 60);
    const node = await cluster.startNode();
    await call(ctx(), "m365.installAppForUser", { userId: users()[561]!.data.id }, { nodeID: node.nodeID });
    emulator.control.setTokenLifetime(3599);
    const { results } = await call(
      ctx(),
      "m365.sendActivityNotifications",
      {
        recipientIds: [recipient],
        activityType: "taskDue",
        previewText: "Due today",
        topic: { source: "entityUrl", value: `https://graph.microsoft.com/v1.0/users/${recipient}` },
      },
      { nodeID: node.nodeID },
    );
    t.deepEqual(results, [{ userId: recipient, status: "accepted" }]);
    t.is(emulator.control.activities(recipient).length, 1);
  },
);

test.serial("a permission the tenant has not granted: a clear error naming it", async (t) => {
  emulator.control.revoke("TeamsActivity.Send");
  // A new node gets a new token, without the revoked permission.
  const node = await cluster.startNode();
  const error = await t.throwsAsync(
    call(
      ctx(),
      "m365.sendActivityNotifications",
      {
        recipientIds: [users()[0]!.data.id],
        activityType: "taskDue",
        previewText: "x",
        topic: { source: "entityUrl", value: "https://graph.microsoft.com/v1.0/users/x" },
      },
      { nodeID: node.nodeID },
    ),
  );
  t.is((error as { type?: string }).type, "M365_PERMISSION_MISSING");
  t.regex(error!.message, /TeamsActivity\.Send/);
  emulator.control.grant("TeamsActivity.Send");
});
