// Teams: asynchronous creation with an owner, channels, members one by one and in bulk (≤ 200, partial results).
import test from "ava";
import { checkAgainstContract } from "../src/index.ts";
import { appToken, type HttpResult, request, startForTest } from "./helpers/emulator.ts";

const userBind = (id: string) => `https://graph.microsoft.com/v1.0/users('${id}')`;
const member = (id: string, roles: string[] = []) => ({
  "@odata.type": "#microsoft.graph.aadUserConversationMember",
  roles,
  "user@odata.bind": userBind(id),
});

async function createTeam(
  emulator: Awaited<ReturnType<typeof startForTest>>["emulator"],
  token: string,
  ownerId: string,
) {
  const created = await request(emulator, "/v1.0/teams", {
    method: "POST",
    token,
    body: {
      "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
      displayName: "Board games",
      description: "Tuesday evenings",
      visibility: "public",
      members: [member(ownerId, ["owner"])],
    },
  });
  return created;
}

async function poll(emulator: Awaited<ReturnType<typeof startForTest>>["emulator"], token: string, location: string) {
  for (;;) {
    const op: HttpResult = await request(emulator, `/v1.0${location}`.replace(/\('([^']+)'\)/g, "/$1"), { token });
    if (op.body.status === "succeeded") return op;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("POST /teams: 202 and an operation; the team exists once it succeeds, with its owner and a General channel", async (t) => {
  // Real time: provisioning takes 3 s, long enough to see the team missing before it succeeds.
  const { emulator, token } = await startForTest({ timeScale: 1 });
  t.teardown(() => emulator.close());
  const owner = emulator.control.tenant.records[0]!.data.id;
  const created = await createTeam(emulator, token, owner);
  t.is(created.status, 202, created.text);
  const location = String(created.headers.location);
  t.regex(location, /^\/teams\('[0-9a-f-]+'\)\/operations\('[0-9a-f-]+'\)$/);
  const teamId = /teams\('([^']+)'\)/.exec(location)![1]!;
  // Reading a team needs Team.ReadBasic.All, which Hearth does not ask for.
  t.is((await request(emulator, `/v1.0/teams/${teamId}`, { token })).status, 403);
  emulator.control.grant("Team.ReadBasic.All");
  const reader = await appToken(emulator);
  // Not there until provisioning is done.
  t.is((await request(emulator, `/v1.0/teams/${teamId}`, { token: reader })).status, 404);
  const op = await poll(emulator, token, location);
  t.is(op.body.targetResourceId, teamId);
  const team = await request(emulator, `/v1.0/teams/${teamId}`, { token: reader });
  t.is(team.status, 200);
  t.deepEqual(checkAgainstContract(team.body, "microsoft.graph.team"), []);
  const channels = await request(emulator, `/v1.0/teams/${teamId}/channels`, { token });
  t.deepEqual(
    channels.body.value.map((c: { displayName: string }) => c.displayName),
    ["General"],
  );
  const members = await request(emulator, `/v1.0/teams/${teamId}/members`, { token });
  t.deepEqual(
    members.body.value.map((m: { userId: string; roles: string[] }) => [m.userId, m.roles]),
    [[owner, ["owner"]]],
  );
  for (const m of members.body.value) t.deepEqual(checkAgainstContract(m, "microsoft.graph.conversationMember"), []);
});

test("POST /teams without an owner is refused (app-only creation must name one)", async (t) => {
  const { emulator, token } = await startForTest();
  t.teardown(() => emulator.close());
  const refused = await request(emulator, "/v1.0/teams", {
    method: "POST",
    token,
    body: {
      "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
      displayName: "No owner",
      members: [member(emulator.control.tenant.records[0]!.data.id)],
    },
  });
  t.is(refused.status, 400);
  t.regex(refused.body.error.message, /owner/);
});

test("channels: created once per name; members: bulk add ≤ 200 with per-member results, then remove", async (t) => {
  const { emulator, token } = await startForTest({ timeScale: 1000, tenant: { users: 260, seed: 9 } });
  t.teardown(() => emulator.close());
  const ids = emulator.control.tenant.records.map((r) => r.data.id);
  const created = await createTeam(emulator, token, ids[0]!);
  const teamId = /teams\('([^']+)'\)/.exec(String(created.headers.location))![1]!;
  await poll(emulator, token, String(created.headers.location));

  const channel = await request(emulator, `/v1.0/teams/${teamId}/channels`, {
    method: "POST",
    token,
    body: { displayName: "Announcements", description: "News" },
  });
  t.is(channel.status, 201);
  t.deepEqual(checkAgainstContract(channel.body, "microsoft.graph.channel"), []);
  const twice = await request(emulator, `/v1.0/teams/${teamId}/channels`, {
    method: "POST",
    token,
    body: { displayName: "announcements" },
  });
  t.is(twice.status, 400);
  t.is(twice.body.error.code, "NameAlreadyExists");

  const add = (values: object[]) =>
    request(emulator, `/v1.0/teams/${teamId}/members/add`, { method: "POST", token, body: { values } });
  const tooMany = await add(ids.slice(1, 202).map((id) => member(id)));
  t.is(tooMany.status, 400);
  const bulk = await add([
    ...ids.slice(1, 150).map((id) => member(id)),
    member("00000000-0000-0000-0000-000000000000"),
  ]);
  t.is(bulk.status, 200);
  t.is(bulk.body.value.filter((r: { error: unknown }) => r.error === null).length, 149);
  t.is(bulk.body.value.at(-1).error.code, "NotFound");
  const owner = await add([member(ids[200]!, ["owner"])]);
  t.is(owner.body.value[0].error.code, "Forbidden", "owners need TeamMember.ReadWrite.All");

  const members = await request(emulator, `/v1.0/teams/${teamId}/members`, { token });
  t.is(members.body.value.length, 150);
  const someone = members.body.value.find((m: { userId: string }) => m.userId === ids[5]);
  const removed = await request(emulator, `/v1.0/teams/${teamId}/members/${someone.id}`, { method: "DELETE", token });
  t.is(removed.status, 204);
  t.is((await request(emulator, `/v1.0/teams/${teamId}/members`, { token })).body.value.length, 149);
});
