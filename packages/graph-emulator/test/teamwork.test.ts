// sendMail, Teams app installations and the activity feed (one user and bulk), with their permissions,
// preconditions and limits, and the payloads checked against the Graph contract.
import test from "ava";
import { checkAgainstContract } from "../src/index.ts";
import { appToken, request, startForTest } from "./helpers/emulator.ts";

const activity = (extra: Record<string, unknown> = {}) => ({
  topic: { source: "text", value: "Your onboarding", webUrl: "https://teams.microsoft.com/l/entity/hearth/tasks" },
  activityType: "taskDue",
  previewText: { content: "Set up your laptop is due today" },
  templateParameters: [{ name: "taskName", value: "Set up your laptop" }],
  ...extra,
});

test("sendMail: 202, the message is kept with its recipients; bad recipients and no mailbox are refused", async (t) => {
  const { emulator, token } = await startForTest();
  t.teardown(() => emulator.close());
  const sender = emulator.control.tenant.records.find((r) => r.mailbox)!;
  const mail = (body: object, who = sender.data.id) =>
    request(emulator, `/v1.0/users/${who}/sendMail`, { method: "POST", token, body });
  const sent = await mail({
    message: {
      subject: "Welcome to Contoso",
      body: { contentType: "HTML", content: "<p>Hello</p>" },
      toRecipients: [{ emailAddress: { address: "new.hire@contoso.example" } }],
    },
    saveToSentItems: false,
  });
  t.is(sent.status, 202, sent.text);
  t.is(sent.text, "");
  t.like(emulator.control.sentMail()[0], {
    senderId: sender.data.id,
    subject: "Welcome to Contoso",
    contentType: "html",
    to: ["new.hire@contoso.example"],
    saveToSentItems: false,
  });
  const none = await mail({ message: { subject: "x", toRecipients: [] } });
  t.is(none.status, 400);
  t.is(none.body.error.code, "ErrorInvalidRecipients");
  const bad = await mail({ message: { subject: "x", toRecipients: [{ emailAddress: { address: "nobody" } }] } });
  t.is(bad.body.error.code, "ErrorInvalidRecipients");
  const noMailbox = emulator.control.hire({ hasMailbox: false });
  const refused = await mail({ message: { toRecipients: [{ emailAddress: { address: "a@b.c" } }] } }, noMailbox.id);
  t.is(refused.status, 404);
  t.is(refused.body.error.code, "MailboxNotEnabledForRESTAPI");
  t.is(emulator.control.sentMail().length, 1);
  emulator.control.revoke("Mail.Send");
  const denied = await mail({ message: { toRecipients: [{ emailAddress: { address: "a@b.c" } }] } });
  t.is(denied.status, 202, "a token issued before the revoke still carries Mail.Send, as in Entra ID");
  const fresh = await appToken(emulator);
  const forbidden = await request(emulator, `/v1.0/users/${sender.data.id}/sendMail`, {
    method: "POST",
    token: fresh,
    body: { message: { toRecipients: [{ emailAddress: { address: "a@b.c" } }] } },
  });
  t.is(forbidden.status, 403);
  t.is(forbidden.body.error.code, "Authorization_RequestDenied");
});

test("installedApps: install the app from the org catalog once (409 after), list it with $expand and $filter", async (t) => {
  const { emulator, token } = await startForTest();
  t.teardown(() => emulator.close());
  const app = emulator.control.teamsApp();
  const userId = emulator.control.tenant.records[3]!.data.id;
  const install = () =>
    request(emulator, `/v1.0/users/${userId}/teamwork/installedApps`, {
      method: "POST",
      token,
      body: { "teamsApp@odata.bind": `https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/${app.id}` },
    });
  t.is((await install()).status, 201);
  const again = await install();
  t.is(again.status, 409);
  t.is(again.body.error.code, "Conflict");
  const unknown = await request(emulator, `/v1.0/users/${userId}/teamwork/installedApps`, {
    method: "POST",
    token,
    body: { "teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/nope" },
  });
  t.is(unknown.status, 404);

  const list = await request(
    emulator,
    `/v1.0/users/${userId}/teamwork/installedApps?$expand=teamsApp&$filter=teamsApp/id eq '${app.id}'`,
    { token },
  );
  t.is(list.status, 200);
  t.is(list.body.value.length, 1);
  t.is(list.body.value[0].teamsApp.id, app.id);
  for (const installation of list.body.value) {
    t.deepEqual(checkAgainstContract(installation, "microsoft.graph.userScopeTeamsAppInstallation"), []);
  }
  const removed = await request(emulator, `/v1.0/users/${userId}/teamwork/installedApps/${list.body.value[0].id}`, {
    method: "DELETE",
    token,
  });
  t.is(removed.status, 204);
  t.is((await install()).status, 201);
});

test("activity feed to one user: 204 when the app is installed for them, 403 otherwise; bad payloads 400", async (t) => {
  const { emulator, token } = await startForTest();
  t.teardown(() => emulator.close());
  const [withApp, withoutApp] = emulator.control.tenant.records.slice(5, 7).map((r) => r.data.id);
  emulator.control.installApp(withApp!);
  const send = (userId: string, body: object) =>
    request(emulator, `/v1.0/users/${userId}/teamwork/sendActivityNotification`, { method: "POST", token, body });
  t.is((await send(withApp!, activity())).status, 204);
  t.like(emulator.control.activities(withApp!)[0], {
    activityType: "taskDue",
    previewText: "Set up your laptop is due today",
    templateParameters: [{ name: "taskName", value: "Set up your laptop" }],
  });
  const notInstalled = await send(withoutApp!, activity());
  t.is(notInstalled.status, 403);
  t.regex(notInstalled.body.error.message, /not installed/);
  const noWebUrl = await send(withApp!, activity({ topic: { source: "text", value: "x" } }));
  t.is(noWebUrl.status, 400);
  t.regex(noWebUrl.body.error.message, /webUrl/);
  t.is(emulator.control.activities(withApp!).length, 1);
});

test("activity feed in bulk: at most 100 recipients; accepted as a whole, delivered to those with the app", async (t) => {
  const { emulator, token } = await startForTest();
  t.teardown(() => emulator.close());
  const ids = emulator.control.tenant.records.slice(0, 10).map((r) => r.data.id);
  for (const id of ids.slice(0, 7)) emulator.control.installApp(id);
  const bulk = (userIds: string[]) =>
    request(emulator, "/v1.0/teamwork/sendActivityNotificationToRecipients", {
      method: "POST",
      token,
      body: activity({
        recipients: userIds.map((userId) => ({
          "@odata.type": "microsoft.graph.aadUserNotificationRecipient",
          userId,
        })),
      }),
    });
  t.is((await bulk(ids)).status, 202);
  t.deepEqual(
    ids.map((id) => emulator.control.activities(id).length),
    [1, 1, 1, 1, 1, 1, 1, 0, 0, 0],
  );
  const tooMany = await bulk(Array.from({ length: 101 }, () => ids[0]!));
  t.is(tooMany.status, 400);
  t.regex(tooMany.body.error.message, /100/);
});

test("activity feed in bulk has its own limit class (Microsoft: 2 per second per app): 429 with Retry-After", async (t) => {
  // The published 2 per second, stretched to 2 per 10 minutes so that the third call is refused whatever the timing.
  const { emulator, token } = await startForTest({
    throttling: { teamsBulkActivityNotification: { limit: 2, windowSeconds: 600 } },
    timeScale: 1,
  });
  t.teardown(() => emulator.close());
  const id = emulator.control.tenant.records[0]!.data.id;
  emulator.control.installApp(id);
  const send = (path: string, body: object) => request(emulator, path, { method: "POST", token, body });
  const recipients = [{ "@odata.type": "microsoft.graph.aadUserNotificationRecipient", userId: id }];
  const statuses = [];
  for (let i = 0; i < 3; i++) {
    statuses.push((await send("/v1.0/teamwork/sendActivityNotificationToRecipients", activity({ recipients }))).status);
  }
  t.deepEqual(statuses, [202, 202, 429]);
  const refused = await send("/v1.0/teamwork/sendActivityNotificationToRecipients", activity({ recipients }));
  t.true(Number(refused.headers["retry-after"]) > 0);
  // The one-user feed is another class: still open.
  t.is((await send(`/v1.0/users/${id}/teamwork/sendActivityNotification`, activity())).status, 204);
});

test("activity feed in bulk wants a token with at least 45 minutes to live (412 otherwise)", async (t) => {
  const { emulator } = await startForTest();
  t.teardown(() => emulator.close());
  const id = emulator.control.tenant.records[0]!.data.id;
  emulator.control.installApp(id);
  emulator.control.setTokenLifetime(44 * 60);
  const short = await appToken(emulator);
  const body = activity({
    recipients: [{ "@odata.type": "microsoft.graph.aadUserNotificationRecipient", userId: id }],
  });
  const refused = await request(emulator, "/v1.0/teamwork/sendActivityNotificationToRecipients", {
    method: "POST",
    token: short,
    body,
  });
  t.is(refused.status, 412);
  t.is(refused.body.error.code, "PreconditionFailed");
  emulator.control.setTokenLifetime(3599);
  const fresh = await appToken(emulator);
  const sent = await request(emulator, "/v1.0/teamwork/sendActivityNotificationToRecipients", {
    method: "POST",
    token: fresh,
    body,
  });
  t.is(sent.status, 202);
});
