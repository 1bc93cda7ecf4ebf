// Mail, Teams app installation and the activity feed through the real m365 service (child node, NATS) against the
// Graph emulator with Microsoft's Teams limits on the real clock.
import type { GraphEmulator } from "@hearth/graph-emulator";
import { call } from "@hearth/platform";
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
  "activity feed to 450 people: bulk calls of 100 within Microsoft's 2 per second; one each for those with the app",
  async (t) => {
    const recipients = users()
      .slice(100, 550)
      .map((r) => r.data.id);
    const withApp = recipients.filter((_, i) => i % 3 !== 0);
    for (const id of withApp) emulator.control.installApp(id);
    const { results } = await call(ctx(), "m365.sendActivityNotifications", {
      recipientIds: [...recipients, recipients[0]!],
      activityType: "taskDue",
      previewText: "Set up your laptop is due today",
      topic: { source: "text", value: "Onboarding", webUrl: "https://teams.microsoft.com/l/entity/hearth/tasks" },
      templateParameters: [{ name: "taskName", value: "Set up your laptop" }],
    });
    // Duplicates are sent once; every chunk was accepted.
    t.is(results.length, recipients.length);
    t.true(results.every((r) => r.status === "accepted"));
    t.deepEqual(
      recipients.map((id) => emulator.control.activities(id).length),
      recipients.map((_, i) => (i % 3 !== 0 ? 1 : 0)),
    );
    const deliveredAt = recipients.flatMap((id) =>
      emulator.control.activities(id).map((a) => Date.parse(a.deliveredAt)),
    );
    // Five bulk calls at ≤ 2 per second (the budget keeps 90 %): they span at least ~1.5 s.
    t.true(Math.max(...deliveredAt) - Math.min(...deliveredAt) >= 1400, "the bulk calls were paced by the budget");
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
