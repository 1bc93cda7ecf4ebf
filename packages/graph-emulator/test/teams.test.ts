// Teams: asynchronous creation with an owner (operation notStarted → inProgress → succeeded or failed), listing,
// channels, members one by one and in bulk (≤ 200, partial results), each route's permission, its limit class and
// $batch routing; payloads against the Graph contract.
import test from "ava";
import { checkAgainstContract, type GraphEmulator } from "../src/index.ts";
import { appToken, type HttpResult, request, startForTest } from "./helpers/emulator.ts";

const userBind = (id: string) => `https://graph.microsoft.com/v1.0/users('${id}')`;
const member = (id: string, roles: string[] = []) => ({
  "@odata.type": "#microsoft.graph.aadUserConversationMember",
  roles,
  "user@odata.bind": userBind(id),
});
const STANDARD = "https://graph.microsoft.com/v1.0/teamsTemplates('standard')";
/** teamsAsyncOperation is not in the contract subset: its properties as documented for Graph v1.0. */
const OPERATION_PROPERTIES = [
  "@odata.context",
  "id",
  "operationType",
  "createdDateTime",
  "status",
  "lastActionDateTime",
  "attemptsCount",
  "targetResourceId",
  "targetResourceLocation",
  "error",
];

function createTeam(emulator: GraphEmulator, token: string, ownerId: string, displayName = "Board games") {
  return request(emulator, "/v1.0/teams", {
    method: "POST",
    token,
    body: {
      "template@odata.bind": STANDARD,
      displayName,
      description: "Tuesday evenings",
      visibility: "public",
      members: [member(ownerId, ["owner"])],
    },
  });
}

const operationUrl = (location: string) => `/v1.0${location}`.replace(/\('([^']+)'\)/g, "/$1");
const teamIdOf = (created: HttpResult) => /teams\('([^']+)'\)/.exec(String(created.headers.location))![1]!;

/** Polls until the operation ends; returns every status seen, in order, and the last answer. */
async function poll(emulator: GraphEmulator, token: string, location: string) {
  const seen: string[] = [];
  for (;;) {
    const op: HttpResult = await request(emulator, operationUrl(location), { token });
    if (seen.at(-1) !== op.body.status) seen.push(op.body.status);
    if (op.body.status === "succeeded" || op.body.status === "failed") return { op, seen };
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function readyTeam(emulator: GraphEmulator, token: string, ownerId: string, displayName?: string) {
  const created = await createTeam(emulator, token, ownerId, displayName);
  await poll(emulator, token, String(created.headers.location));
  return teamIdOf(created);
}

test("POST /teams: 202 and an operation (notStarted, inProgress, succeeded); the team exists only then", async (t) => {
  // Real time: provisioning takes 3 s, long enough to see every status and the team missing meanwhile.
  const { emulator, token } = await startForTest({ timeScale: 1 });
  t.teardown(() => emulator.close());
  const owner = emulator.control.tenant.records[0]!.data.id;
  const created = await createTeam(emulator, token, owner);
  t.is(created.status, 202, created.text);
  t.is(created.text, "");
  const location = String(created.headers.location);
  t.regex(location, /^\/teams\('[0-9a-f-]+'\)\/operations\('[0-9a-f-]+'\)$/);
  const teamId = teamIdOf(created);
  t.is(created.headers["content-location"], `/teams('${teamId}')`);
  // Not there until provisioning is done: not read, not listed.
  t.is((await request(emulator, `/v1.0/teams/${teamId}`, { token })).status, 404);
  t.deepEqual((await request(emulator, "/v1.0/teams", { token })).body.value, []);
  const { op, seen } = await poll(emulator, token, location);
  // In order; notStarted lasts 0.5 s, so a slow machine may first see inProgress.
  const order = ["notStarted", "inProgress", "succeeded"];
  t.deepEqual(seen, order.slice(order.indexOf(seen[0]!)), seen.join(" → "));
  t.true(seen.length >= 2, "seen before it succeeded");
  t.deepEqual(Object.keys(op.body), OPERATION_PROPERTIES);
  t.like(op.body, { operationType: "createTeam", targetResourceId: teamId, error: null, attemptsCount: 1 });
  t.is(op.body.targetResourceLocation, `/teams('${teamId}')`);
  const team = await request(emulator, `/v1.0/teams/${teamId}`, { token });
  t.is(team.status, 200);
  t.like(team.body, { id: teamId, displayName: "Board games", visibility: "public", description: "Tuesday evenings" });
  t.deepEqual(checkAgainstContract(team.body, "microsoft.graph.team"), []);
  const channels = await request(emulator, `/v1.0/teams/${teamId}/channels`, { token });
  t.is(channels.body["@odata.count"], 1);
  t.deepEqual(
    channels.body.value.map((c: { displayName: string }) => c.displayName),
    ["General"],
  );
  for (const c of channels.body.value) t.deepEqual(checkAgainstContract(c, "microsoft.graph.channel"), []);
  const members = await request(emulator, `/v1.0/teams/${teamId}/members`, { token });
  t.deepEqual(
    members.body.value.map((m: { userId: string; roles: string[] }) => [m.userId, m.roles]),
    [[owner, ["owner"]]],
  );
  for (const m of members.body.value) t.deepEqual(checkAgainstContract(m, "microsoft.graph.conversationMember"), []);
});

test("POST /teams: the standard template and an owner are required (app-only creation must name one)", async (t) => {
  const { emulator, token } = await startForTest();
  t.teardown(() => emulator.close());
  const id = emulator.control.tenant.records[0]!.data.id;
  const post = (body: object) => request(emulator, "/v1.0/teams", { method: "POST", token, body });
  const noOwner = await post({ "template@odata.bind": STANDARD, displayName: "No owner", members: [member(id)] });
  t.is(noOwner.status, 400);
  t.regex(noOwner.body.error.message, /owner/);
  const noTemplate = await post({ displayName: "No template", members: [member(id, ["owner"])] });
  t.is(noTemplate.status, 400);
  t.regex(noTemplate.body.error.message, /template/);
  const unknownOwner = await post({
    "template@odata.bind": STANDARD,
    displayName: "Ghost owner",
    members: [member("00000000-0000-4000-8000-000000000000", ["owner"])],
  });
  t.is(unknownOwner.status, 404);
  t.is(emulator.control.tenant.teams.operations.size, 0, "nothing accepted");
});

test("a creation that fails in Teams: accepted, then the operation ends failed with its error; no team", async (t) => {
  const { emulator, token } = await startForTest({ timeScale: 100 });
  t.teardown(() => emulator.close());
  emulator.control.failTeamCreations(1, { code: "Conflict", message: "The group's mailNickname is taken." });
  const created = await createTeam(emulator, token, emulator.control.tenant.records[0]!.data.id);
  t.is(created.status, 202);
  const { op, seen } = await poll(emulator, token, String(created.headers.location));
  t.is(seen.at(-1), "failed");
  t.deepEqual(op.body.error, { code: "Conflict", message: "The group's mailNickname is taken." });
  t.is((await request(emulator, `/v1.0/teams/${teamIdOf(created)}`, { token })).status, 404);
  // A long provisioning ended on demand (control API).
  emulator.control.setTeamProvisioning(3600);
  const slow = await createTeam(emulator, token, emulator.control.tenant.records[0]!.data.id);
  const pending = await request(emulator, operationUrl(String(slow.headers.location)), { token });
  t.true(["notStarted", "inProgress"].includes(pending.body.status), pending.body.status);
  t.is(emulator.control.finishTeamProvisioning(), 1);
  t.is((await request(emulator, `/v1.0/teams/${teamIdOf(slow)}`, { token })).status, 200);
  emulator.control.setTeamProvisioning(3);
  // The next one succeeds.
  const again = await createTeam(emulator, token, emulator.control.tenant.records[0]!.data.id);
  t.is((await poll(emulator, token, String(again.headers.location))).op.body.status, "succeeded");
});

test("GET /teams lists provisioned teams, filtered by displayName, paged by $top", async (t) => {
  const { emulator, token } = await startForTest({ timeScale: 1000 });
  t.teardown(() => emulator.close());
  const owner = emulator.control.tenant.records[0]!.data.id;
  const a = await readyTeam(emulator, token, owner, "Chess");
  const b = await readyTeam(emulator, token, owner, "Chess");
  await readyTeam(emulator, token, owner, "O'Brien's runners");
  const all = await request(emulator, "/v1.0/teams", { token });
  t.is(all.status, 200);
  t.is(all.body.value.length, 3);
  for (const team of all.body.value) t.deepEqual(checkAgainstContract(team, "microsoft.graph.team"), []);
  const chess = await request(emulator, `/v1.0/teams?$filter=${encodeURIComponent("displayName eq 'Chess'")}&$top=1`, {
    token,
  });
  t.deepEqual(
    chess.body.value.map((x: { id: string }) => x.id),
    [a],
  );
  const next = await request(emulator, chess.body["@odata.nextLink"], { token });
  t.deepEqual(
    next.body.value.map((x: { id: string }) => x.id),
    [b],
  );
  t.is(next.body["@odata.nextLink"], undefined);
  const quoted = await request(
    emulator,
    `/v1.0/teams?$filter=${encodeURIComponent("displayName eq 'O''Brien''s runners'")}`,
    { token },
  );
  t.is(quoted.body.value.length, 1);
  const unsupported = await request(emulator, "/v1.0/teams?$filter=startswith(displayName,'C')", { token });
  t.is(unsupported.status, 400);
});

test("channels: created once per name; members: one, bulk ≤ 200 with per-member results, then remove", async (t) => {
  const { emulator, token } = await startForTest({ timeScale: 1000, tenant: { users: 260, seed: 9 } });
  t.teardown(() => emulator.close());
  const ids = emulator.control.tenant.records.map((r) => r.data.id);
  const teamId = await readyTeam(emulator, token, ids[0]!);

  const channel = await request(emulator, `/v1.0/teams/${teamId}/channels`, {
    method: "POST",
    token,
    body: { displayName: "Announcements", description: "News" },
  });
  t.is(channel.status, 201);
  t.deepEqual(checkAgainstContract(channel.body, "microsoft.graph.channel"), []);
  const one = await request(emulator, `/v1.0/teams/${teamId}/channels/${encodeURIComponent(channel.body.id)}`, {
    token,
  });
  t.is(one.status, 200);
  t.deepEqual(one.body.id, channel.body.id);
  t.deepEqual(checkAgainstContract(one.body, "microsoft.graph.channel"), []);
  t.is((await request(emulator, `/v1.0/teams/${teamId}/channels/19:nope@thread.tacv2`, { token })).status, 404);
  const twice = await request(emulator, `/v1.0/teams/${teamId}/channels`, {
    method: "POST",
    token,
    body: { displayName: "announcements" },
  });
  t.is(twice.status, 400);
  t.is(twice.body.error.code, "NameAlreadyExists");
  const badName = await request(emulator, `/v1.0/teams/${teamId}/channels`, {
    method: "POST",
    token,
    body: { displayName: "a/b" },
  });
  t.is(badName.status, 400);

  const single = await request(emulator, `/v1.0/teams/${teamId}/members`, {
    method: "POST",
    token,
    body: member(ids[1]!),
  });
  t.is(single.status, 201);
  t.deepEqual(checkAgainstContract(single.body, "microsoft.graph.conversationMember"), []);
  t.is(single.body.userId, ids[1]);

  const add = (values: object[]) =>
    request(emulator, `/v1.0/teams/${teamId}/members/add`, { method: "POST", token, body: { values } });
  const tooMany = await add(ids.slice(1, 202).map((id) => member(id)));
  t.is(tooMany.status, 400);
  t.regex(tooMany.body.error.message, /200/);
  t.is((await add([])).status, 400);
  const bulk = await add([
    ...ids.slice(1, 150).map((id) => member(id)),
    member("00000000-0000-0000-0000-000000000000"),
  ]);
  t.is(bulk.status, 200);
  for (const part of bulk.body.value) t.deepEqual(checkAgainstContract(part, "microsoft.graph.actionResultPart"), []);
  t.is(bulk.body.value.filter((r: { error: unknown }) => r.error === null).length, 149);
  t.is(bulk.body.value.at(-1).error.code, "NotFound");
  const owner = await add([member(ids[200]!, ["owner"])]);
  t.is(owner.body.value[0].error.code, "Forbidden", "owners need TeamMember.ReadWrite.All");

  const members = await request(emulator, `/v1.0/teams/${teamId}/members`, { token });
  t.is(members.body.value.length, 150);
  t.is(members.body["@odata.count"], 150);
  const someone = members.body.value.find((m: { userId: string }) => m.userId === ids[5]);
  const removed = await request(emulator, `/v1.0/teams/${teamId}/members/${someone.id}`, { method: "DELETE", token });
  t.is(removed.status, 204);
  t.is(
    (await request(emulator, `/v1.0/teams/${teamId}/members/${someone.id}`, { method: "DELETE", token })).status,
    404,
  );
  t.is((await request(emulator, `/v1.0/teams/${teamId}/members`, { token })).body.value.length, 149);
  // The owner stays: removing one needs the broader permission.
  const ownerMembership = members.body.value.find((m: { userId: string }) => m.userId === ids[0]);
  const ownerRemoval = await request(emulator, `/v1.0/teams/${teamId}/members/${ownerMembership.id}`, {
    method: "DELETE",
    token,
  });
  t.is(ownerRemoval.status, 403);
  emulator.control.grant("TeamMember.ReadWrite.All");
  const broader = await appToken(emulator);
  t.is(
    (
      await request(emulator, `/v1.0/teams/${teamId}/members/${ownerMembership.id}`, {
        method: "DELETE",
        token: broader,
      })
    ).status,
    204,
  );
});

test("each route refuses a token without its least-privileged permission: 403 Authorization_RequestDenied", async (t) => {
  const { emulator, token } = await startForTest({ timeScale: 1000 });
  t.teardown(() => emulator.close());
  const [owner, other] = emulator.control.tenant.records.map((r) => r.data.id);
  const teamId = await readyTeam(emulator, token, owner!);
  const created = await createTeam(emulator, token, owner!);
  const members = await request(emulator, `/v1.0/teams/${teamId}/members`, { token });
  const membership = members.body.value[0].id;
  const general = (await request(emulator, `/v1.0/teams/${teamId}/channels`, { token })).body.value[0].id;
  const cases: Array<[string, string, string, object?]> = [
    ["Team.Create", "POST", "/v1.0/teams", { "template@odata.bind": STANDARD, displayName: "x", members: [] }],
    ["Team.Create", "GET", operationUrl(String(created.headers.location))],
    ["Team.ReadBasic.All", "GET", "/v1.0/teams"],
    ["Team.ReadBasic.All", "GET", `/v1.0/teams/${teamId}`],
    ["Channel.ReadBasic.All", "GET", `/v1.0/teams/${teamId}/channels`],
    ["Channel.ReadBasic.All", "GET", `/v1.0/teams/${teamId}/channels/${encodeURIComponent(general)}`],
    ["Channel.Create", "POST", `/v1.0/teams/${teamId}/channels`, { displayName: "x" }],
    ["TeamMember.ReadWriteNonOwnerRole.All", "GET", `/v1.0/teams/${teamId}/members`],
    ["TeamMember.ReadWriteNonOwnerRole.All", "POST", `/v1.0/teams/${teamId}/members`, member(other!)],
    ["TeamMember.ReadWriteNonOwnerRole.All", "POST", `/v1.0/teams/${teamId}/members/add`, { values: [member(other!)] }],
    ["TeamMember.ReadWriteNonOwnerRole.All", "DELETE", `/v1.0/teams/${teamId}/members/${membership}`],
  ];
  for (const [permission, method, url, body] of cases) {
    // The operation is readable with Team.Create or a team read permission: take both away for that case.
    const revoked =
      permission === "Team.Create" && method === "GET" ? [permission, "Team.ReadBasic.All"] : [permission];
    for (const p of revoked) emulator.control.revoke(p);
    const denied = await request(emulator, url, { method, token: await appToken(emulator), body });
    for (const p of revoked) emulator.control.grant(p);
    t.is(denied.status, 403, `${method} ${url} without ${permission}`);
    t.is(denied.body.error.code, "Authorization_RequestDenied", `${method} ${url}`);
  }
});

test("limit classes: POST /teams 10 per second per app; 4 per second per team, each team on its own", async (t) => {
  const { emulator, token } = await startForTest({ timeScale: 1000 });
  t.teardown(() => emulator.close());
  const owner = emulator.control.tenant.records[0]!.data.id;
  const [a, b] = [await readyTeam(emulator, token, owner), await readyTeam(emulator, token, owner)];
  // Windows of 10 minutes, so that a slow machine cannot cross one between two requests.
  emulator.control.setThrottling({
    teamsCreate: { limit: 10, windowSeconds: 600 },
    teamsPerTeam: { limit: 4, windowSeconds: 600 },
    teamsOther: { limit: 30, windowSeconds: 600 },
  });
  const creations = [];
  for (let i = 0; i < 11; i++) creations.push((await createTeam(emulator, token, owner, `T${i}`)).status);
  t.deepEqual(creations, [...Array(10).fill(202), 429]);
  const reads = [];
  for (let i = 0; i < 5; i++) reads.push(await request(emulator, `/v1.0/teams/${a}/members`, { token }));
  t.deepEqual(
    reads.map((r) => r.status),
    [200, 200, 200, 200, 429],
  );
  const throttled = reads.at(-1)!;
  t.is(throttled.body.error.code, "TooManyRequests");
  t.true(Number(throttled.headers["retry-after"]) > 0);
  t.is((await request(emulator, `/v1.0/teams/${b}/channels`, { token })).status, 200, "another team has its own");
});

test("$batch routes to the Teams routes: each sub-request authorised and throttled on its own, dependsOn honoured", async (t) => {
  const { emulator, token } = await startForTest({ timeScale: 1000, tenant: { users: 30, seed: 3 } });
  t.teardown(() => emulator.close());
  const ids = emulator.control.tenant.records.map((r) => r.data.id);
  const teamId = await readyTeam(emulator, token, ids[0]!);
  const json = { "Content-Type": "application/json" };
  const response = await request(emulator, "/v1.0/$batch", {
    method: "POST",
    token,
    body: {
      requests: [
        { id: "1", method: "POST", url: `/teams/${teamId}/channels`, headers: json, body: { displayName: "Cohort" } },
        {
          id: "2",
          method: "POST",
          url: `/teams/${teamId}/members/add`,
          headers: json,
          body: { values: ids.slice(1, 6).map((id) => member(id)) },
          dependsOn: ["1"],
        },
        { id: "3", method: "GET", url: `/teams/${teamId}/members`, dependsOn: ["2"] },
        { id: "4", method: "GET", url: `/teams/${teamId}` },
      ],
    },
  });
  t.is(response.status, 200);
  const byId = Object.fromEntries(response.body.responses.map((sub: { id: string }) => [sub.id, sub]));
  t.is(byId["1"].status, 201);
  t.deepEqual(checkAgainstContract(byId["1"].body, "microsoft.graph.channel"), []);
  t.is(byId["2"].status, 200);
  t.is(byId["2"].body.value.length, 5);
  t.is(byId["3"].status, 200);
  t.is(byId["3"].body.value.length, 6);
  t.is(byId["4"].status, 200);
  t.deepEqual(checkAgainstContract(byId["4"].body, "microsoft.graph.team"), []);

  // Six reads of one team in one batch: the per-team class admits four.
  emulator.control.setThrottling({ teamsPerTeam: { limit: 4, windowSeconds: 600 } });
  const six = await request(emulator, "/v1.0/$batch", {
    method: "POST",
    token,
    body: {
      requests: Array.from({ length: 6 }, (_, i) => ({
        id: String(i + 1),
        method: "GET",
        url: `/teams/${teamId}/members`,
      })),
    },
  });
  const statuses = six.body.responses.map((sub: { status: number }) => sub.status).sort();
  t.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);

  emulator.control.setThrottling(false);
  emulator.control.revoke("Channel.Create");
  const denied = await request(emulator, "/v1.0/$batch", {
    method: "POST",
    token: await appToken(emulator),
    body: {
      requests: [
        { id: "1", method: "POST", url: `/teams/${teamId}/channels`, headers: json, body: { displayName: "Denied" } },
        { id: "2", method: "GET", url: `/teams/${teamId}/channels` },
      ],
    },
  });
  const denial = Object.fromEntries(denied.body.responses.map((sub: { id: string }) => [sub.id, sub]));
  t.is(denial["1"].status, 403);
  t.is(denial["1"].body.error.code, "Authorization_RequestDenied");
  t.is(denial["2"].status, 200);
});
