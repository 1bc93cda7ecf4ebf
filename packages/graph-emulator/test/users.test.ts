import test from "ava";
import { DEFAULT_USER_PROPERTIES } from "../src/index.ts";
import { appToken, request, startForTest } from "./helpers/emulator.ts";

const setup = startForTest({ tenant: { users: 60, seed: 42 } });
test.after.always(async () => (await setup).emulator.close());

test("GET /users pages with $top through absolute https nextLinks and returns every user once", async (t) => {
  // Its own tenant: other tests here hire people while this one pages.
  const { emulator, token } = await startForTest({ tenant: { users: 60, seed: 42 } });
  t.teardown(() => emulator.close());
  const seen: string[] = [];
  let url: string | undefined = "/v1.0/users?$top=7";
  let pages = 0;
  while (url) {
    const response = await request(emulator, url, { token });
    t.is(response.status, 200);
    t.true(response.body.value.length <= 7);
    for (const user of response.body.value) seen.push(user.id);
    url = response.body["@odata.nextLink"];
    if (url) {
      t.true(url.startsWith(`${emulator.url}/v1.0/users?`), url);
      t.regex(url, /\$top=7&\$skiptoken=/);
    }
    pages++;
  }
  t.is(pages, Math.ceil(60 / 7));
  t.is(new Set(seen).size, 60);
});

test("GET /users without $select returns Graph's default property set, and $select returns exactly what was asked plus id", async (t) => {
  const { emulator, token } = await setup;
  const plain = await request(emulator, "/v1.0/users?$top=3", { token });
  t.is(plain.body["@odata.context"], `${emulator.url}/v1.0/$metadata#users`);
  for (const user of plain.body.value) t.deepEqual(Object.keys(user).sort(), [...DEFAULT_USER_PROPERTIES].sort());

  const selected = await request(emulator, "/v1.0/users?$top=3&$select=displayName,department,employeeHireDate", {
    token,
  });
  t.is(
    selected.body["@odata.context"],
    `${emulator.url}/v1.0/$metadata#users(displayName,department,employeeHireDate)`,
  );
  for (const user of selected.body.value)
    t.deepEqual(Object.keys(user).sort(), ["department", "displayName", "employeeHireDate", "id"]);

  const unknown = await request(emulator, "/v1.0/users?$select=displayName,shoeSize", { token });
  t.is(unknown.status, 400);
  t.is(unknown.body.error.code, "Request_BadRequest");
  t.regex(unknown.body.error.message, /shoeSize/);

  const badTop = await request(emulator, "/v1.0/users?$top=1000", { token });
  t.is(badTop.status, 400);
});

test("GET /users/{id} and /users/{userPrincipalName} return the same user; unknown ids are 404 in Graph's envelope", async (t) => {
  const { emulator, token } = await setup;
  const user = emulator.control.tenant.records[5]!.data;
  const byId = await request(emulator, `/v1.0/users/${user.id}`, { token });
  const byUpn = await request(emulator, `/v1.0/users/${encodeURIComponent(user.userPrincipalName.toUpperCase())}`, {
    token,
  });
  t.is(byId.status, 200);
  t.is(byId.body.id, user.id);
  t.deepEqual(byUpn.body, byId.body);
  t.is(byId.body["@odata.context"], `${emulator.url}/v1.0/$metadata#users/$entity`);

  const missing = await request(emulator, "/v1.0/users/00000000-0000-4000-8000-000000000000", {
    token,
    headers: { "client-request-id": "abc-123" },
  });
  t.is(missing.status, 404);
  t.is(missing.body.error.code, "Request_ResourceNotFound");
  t.is(missing.body.error.innerError["client-request-id"], "abc-123");
  t.is(missing.body.error.innerError["request-id"], missing.headers["request-id"]);
  t.truthy(missing.body.error.innerError.date);
});

test("GET /users/{id}/manager returns the manager as a directoryObject of type user; the CEO has none (404)", async (t) => {
  const { emulator, token } = await setup;
  const records = emulator.control.tenant.records;
  const staff = records[40]!;
  const manager = await request(emulator, `/v1.0/users/${staff.data.id}/manager`, { token });
  t.is(manager.status, 200);
  t.is(manager.body["@odata.type"], "#microsoft.graph.user");
  t.is(manager.body.id, staff.managerId);
  t.is(manager.body["@odata.context"], `${emulator.url}/v1.0/$metadata#directoryObjects/$entity`);
  const ceo = await request(emulator, `/v1.0/users/${records[0]!.data.id}/manager`, { token });
  t.is(ceo.status, 404);
  t.is(ceo.body.error.code, "Request_ResourceNotFound");
});

test("mailboxSettings: time zone (Windows or IANA) and language; 404 MailboxNotEnabledForRESTAPI without a mailbox", async (t) => {
  const { emulator, token } = await setup;
  const withMailbox = emulator.control.hire({
    office: "Berlin",
    mailbox: { timeZone: "W. Europe Standard Time", locale: "de-DE", localeDisplayName: "German (Germany)" },
  });
  const iana = emulator.control.hire({
    office: "Seattle",
    mailbox: { timeZone: "America/Los_Angeles", locale: "en-US", localeDisplayName: "English (United States)" },
  });
  const without = emulator.control.hire({ hasMailbox: false });
  const settings = await request(emulator, `/v1.0/users/${withMailbox.id}/mailboxSettings`, { token });
  t.is(settings.status, 200);
  t.is(settings.body.timeZone, "W. Europe Standard Time");
  t.is(settings.body.language.locale, "de-DE");
  t.is(
    (await request(emulator, `/v1.0/users/${iana.id}/mailboxSettings`, { token })).body.timeZone,
    "America/Los_Angeles",
  );
  const timeZoneOnly = await request(
    emulator,
    `/v1.0/users/${withMailbox.userPrincipalName}/mailboxSettings/timeZone`,
    { token },
  );
  t.is(timeZoneOnly.body.value, "W. Europe Standard Time");
  const none = await request(emulator, `/v1.0/users/${without.id}/mailboxSettings`, { token });
  t.is(none.status, 404);
  t.is(none.body.error.code, "MailboxNotEnabledForRESTAPI");
  t.is(without.mail, null);
});

test("401 InvalidAuthenticationToken for a missing, forged or foreign token", async (t) => {
  const { emulator, token } = await setup;
  const missing = await request(emulator, "/v1.0/users");
  t.is(missing.status, 401);
  t.is(missing.body.error.code, "InvalidAuthenticationToken");
  const [header, payload] = token.split(".");
  const forged = `${header}.${payload}.${Buffer.from("not a signature").toString("base64url")}`;
  t.is((await request(emulator, "/v1.0/users", { token: forged })).status, 401);
  t.is((await request(emulator, "/v1.0/users", { token: "garbage" })).body.error.code, "InvalidAuthenticationToken");
});

test("403 Authorization_RequestDenied when the token lacks the route's permission; employeeLeaveDateTime needs User-LifeCycleInfo.Read.All", async (t) => {
  const { emulator } = await setup;
  const clientId = "11111111-2222-4333-8444-555555555555";
  emulator.control.tenant.registerApp({
    clientId,
    clientSecret: "s3cret",
    displayName: "Narrow",
    permissions: ["MailboxSettings.Read"],
  });
  const narrow = await appToken(emulator, clientId);
  const denied = await request(emulator, "/v1.0/users", { token: narrow });
  t.is(denied.status, 403);
  t.is(denied.body.error.code, "Authorization_RequestDenied");
  t.is((await request(emulator, "/v1.0/users/delta", { token: narrow })).status, 403);

  emulator.control.grant("User.Read.All", clientId);
  // Permissions are in the token: the old one still lacks it, a new one has it.
  t.is((await request(emulator, "/v1.0/users", { token: narrow })).status, 403);
  const widened = await appToken(emulator, clientId);
  const leaver =
    emulator.control.tenant.records.find(
      (record) => record.data.employeeLeaveDateTime !== null && record.removed === null,
    ) ?? emulator.control.tenant.find(emulator.control.hire({ employeeLeaveDateTime: "2030-01-31T00:00:00Z" }).id)!;
  const withoutLifecycle = await request(
    emulator,
    `/v1.0/users/${leaver.data.id}?$select=employeeLeaveDateTime,employeeHireDate`,
    { token: widened },
  );
  t.is(withoutLifecycle.status, 200);
  t.is(withoutLifecycle.body.employeeLeaveDateTime, null);
  t.truthy(withoutLifecycle.body.employeeHireDate);
  const full = await request(emulator, `/v1.0/users/${leaver.data.id}?$select=employeeLeaveDateTime`, {
    token: await appToken(emulator),
  });
  t.is(full.body.employeeLeaveDateTime, leaver.data.employeeLeaveDateTime);

  emulator.control.revoke("MailboxSettings.Read", clientId);
  const noMailboxRead = await appToken(emulator, clientId);
  t.is(
    (await request(emulator, `/v1.0/users/${leaver.data.id}/mailboxSettings`, { token: noMailboxRead })).status,
    403,
  );
});

test("unknown segments answer 400 like Graph, and unsupported query options are refused rather than ignored", async (t) => {
  const { emulator, token } = await setup;
  const unknown = await request(emulator, "/v1.0/gadgets", { token });
  t.is(unknown.status, 400);
  t.regex(unknown.body.error.message, /segment 'gadgets'/);
  const filter = await request(emulator, "/v1.0/users?$filter=department eq 'Sales'", { token });
  t.is(filter.status, 400);
});
