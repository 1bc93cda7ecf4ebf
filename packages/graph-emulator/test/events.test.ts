// Events with a Teams meeting, transactionId de-duplication and attendees' responses; payloads against the contract.
import test from "ava";
import { checkAgainstContract } from "../src/index.ts";
import { appToken, request, startForTest } from "./helpers/emulator.ts";

const meeting = (extra: Record<string, unknown> = {}) => ({
  subject: "Welcome coffee with your buddy",
  body: { contentType: "HTML", content: "<p>Let's meet in the <b>kitchen</b>.</p>" },
  start: { dateTime: "2026-12-01T09:30:00", timeZone: "Europe/Berlin" },
  end: { dateTime: "2026-12-01T10:00:00", timeZone: "Europe/Berlin" },
  location: { displayName: "Kitchen, 3rd floor" },
  attendees: [
    { emailAddress: { address: "new.hire@contoso.example", name: "New Hire" }, type: "required" },
    { emailAddress: { address: "buddy@contoso.example" }, type: "optional" },
  ],
  isOnlineMeeting: true,
  onlineMeetingProvider: "teamsForBusiness",
  ...extra,
});

test("an online meeting gets a Teams joinUrl; the same transactionId returns the same event, not a second one", async (t) => {
  const { emulator, token } = await startForTest();
  t.teardown(() => emulator.close());
  const organizer = emulator.control.tenant.records.find((r) => r.mailbox)!.data.id;
  const create = (body: object) =>
    request(emulator, `/v1.0/users/${organizer}/events`, { method: "POST", token, body });
  const first = await create(meeting({ transactionId: "onboarding-42-welcome" }));
  t.is(first.status, 201, first.text);
  t.regex(first.body.onlineMeeting.joinUrl, /^https:\/\/teams\.microsoft\.com\/l\/meetup-join\//);
  t.deepEqual(checkAgainstContract(first.body, "microsoft.graph.event"), []);
  t.deepEqual(
    first.body.attendees.map((a: { status: { response: string } }) => a.status.response),
    ["none", "none"],
  );
  t.is(first.body.bodyPreview, "Let's meet in the kitchen .");
  const again = await create(meeting({ transactionId: "onboarding-42-welcome" }));
  t.is(again.body.id, first.body.id);
  t.is(emulator.control.events(organizer).length, 1);
  const offline = await create(meeting({ isOnlineMeeting: false, onlineMeetingProvider: undefined }));
  t.is(offline.body.onlineMeeting, null);
  t.is(emulator.control.events(organizer).length, 2);
});

test("attendees' responses show on the event; bad times and unknown time zones are refused", async (t) => {
  const { emulator, token } = await startForTest();
  t.teardown(() => emulator.close());
  const organizer = emulator.control.tenant.records.find((r) => r.mailbox)!.data.id;
  const created = await request(emulator, `/v1.0/users/${organizer}/events`, {
    method: "POST",
    token,
    body: meeting(),
  });
  emulator.control.respond(created.body.id, "new.hire@contoso.example", "accepted");
  emulator.control.respond(created.body.id, "BUDDY@contoso.example", "declined");
  const read = await request(emulator, `/v1.0/users/${organizer}/events/${created.body.id}`, { token });
  t.is(read.status, 200);
  t.deepEqual(checkAgainstContract(read.body, "microsoft.graph.event"), []);
  t.deepEqual(
    read.body.attendees.map((a: { status: { response: string } }) => a.status.response),
    ["accepted", "declined"],
  );
  t.not(read.body.attendees[0].status.time, "0001-01-01T00:00:00Z");
  const backwards = await request(emulator, `/v1.0/users/${organizer}/events`, {
    method: "POST",
    token,
    body: meeting({ end: { dateTime: "2026-12-01T08:00:00", timeZone: "Europe/Berlin" } }),
  });
  t.is(backwards.status, 400);
  const zone = await request(emulator, `/v1.0/users/${organizer}/events`, {
    method: "POST",
    token,
    body: meeting({ start: { dateTime: "2026-12-01T09:30:00", timeZone: "Mars/Olympus" } }),
  });
  t.is(zone.status, 400);
  t.is(zone.body.error.code, "TimeZoneNotSupportedException");
  const gone = await request(emulator, `/v1.0/users/${organizer}/events/${created.body.id}`, {
    method: "DELETE",
    token,
  });
  t.is(gone.status, 204);
  t.is((await request(emulator, `/v1.0/users/${organizer}/events/${created.body.id}`, { token })).status, 404);
});

test("events need Calendars.ReadWrite: without it, 403 Authorization_RequestDenied and nothing is created", async (t) => {
  const { emulator } = await startForTest();
  t.teardown(() => emulator.close());
  const organizer = emulator.control.tenant.records.find((r) => r.mailbox)!.data.id;
  emulator.control.revoke("Calendars.ReadWrite");
  const token = await appToken(emulator);
  const refused = await request(emulator, `/v1.0/users/${organizer}/events`, {
    method: "POST",
    token,
    body: meeting(),
  });
  t.is(refused.status, 403);
  t.is(refused.body.error.code, "Authorization_RequestDenied");
  t.is(emulator.control.events(organizer).length, 0);
});

test("creating events is throttled per organizer mailbox (Outlook class): the fifth at once gets 429 and creates nothing", async (t) => {
  const { emulator, token } = await startForTest({
    tenant: { users: 10, seed: 1 },
    throttling: true,
    latencyMs: { outlook: 1500 },
  });
  t.teardown(() => emulator.close());
  const [a, b] = emulator.control.tenant.records.filter((r) => r.mailbox).map((r) => r.data.id);
  const create = (organizer: string, n: number) =>
    request(emulator, `/v1.0/users/${organizer}/events`, {
      method: "POST",
      token,
      body: meeting({ transactionId: `throttle-${organizer}-${n}` }),
    });
  const responses = await Promise.all([...Array.from({ length: 6 }, (_, n) => create(a!, n)), create(b!, 0)]);
  const forA = responses.slice(0, 6).map((r) => r.status);
  t.deepEqual([...forA].sort(), [201, 201, 201, 201, 429, 429]);
  const refused = responses.find((r) => r.status === 429)!;
  t.is(refused.body.error.code, "ApplicationThrottled");
  t.truthy(refused.headers["retry-after"]);
  t.is(emulator.control.events(a!).length, 4, "a refused request creates nothing");
  t.is(responses[6]!.status, 201, "another organizer's mailbox has its own limit");
});
