// Teams, channels and members through the real m365 service (child node, NATS) against the Graph emulator:
// createTeam once per idempotency key (retries, concurrent calls, a crash while Teams provisions, an attempt stopped
// before Teams answered, a failed provisioning), channels once per name, bulk members with per-person results.
import type { GraphEmulator } from "@hearth/graph-emulator";
import { call } from "@hearth/platform";
import { waitFor } from "@hearth/testkit";
import test from "ava";
import { teamRequestHash } from "../src/team-creations.ts";
import { type M365Cluster, startM365Cluster } from "./fixtures/m365-cluster.ts";
import { pgExecutor } from "./fixtures/pg-executor.ts";

let cluster: M365Cluster;
let emulator: GraphEmulator;

test.before(async () => {
  // Provisioning takes 3 s on the emulator's clock: 0.3 s here.
  cluster = await startM365Cluster({ tenant: { users: 450, seed: "hearth-m365-teams" }, timeScale: 10 });
  emulator = cluster.emulator;
});
test.after.always(() => cluster?.close());

const ctx = () => cluster.ctx();
const ids = () => emulator.control.tenant.records.filter((r) => !r.removed).map((r) => r.data.id);
const teamsNamed = (name: string) =>
  [...emulator.control.tenant.teams.teams.values()].filter((x) => x.displayName === name);
const creationsNamed = (name: string) =>
  [...emulator.control.tenant.teams.operations.values()].filter((o) =>
    emulator.control.tenant.teams.teams.get(o.teamId)
      ? emulator.control.tenant.teams.teams.get(o.teamId)!.displayName === name
      : false,
  );

async function sql(text: string, params: unknown[] = []) {
  const db = pgExecutor(cluster.env.env.DATABASE_URL!, 1);
  try {
    return (await db.execute(text, params)) as Array<Record<string, unknown>>;
  } finally {
    await db.end();
  }
}

test.serial(
  "an interest-group team: created and provisioned, a channel once, 400 members in bulk, one removed",
  async (t) => {
    const [owner, ...others] = ids();
    const { teamId } = await call(ctx(), "m365.createTeam", {
      displayName: "Board games",
      description: "Tuesday evenings",
      ownerIds: [owner!],
      visibility: "public",
      idempotencyKey: "interest-group:board-games",
    });
    const team = emulator.control.tenant.teams.ready(teamId);
    t.truthy(team, "the action returns once the team is provisioned");
    t.deepEqual(
      team!.members.map((m) => [m.userId, m.roles]),
      [[owner, ["owner"]]],
    );

    const channel = await call(ctx(), "m365.createChannel", { teamId, displayName: "Meetups", description: "Where" });
    t.true(channel.created);
    const again = await call(ctx(), "m365.createChannel", { teamId, displayName: "meetups" });
    t.deepEqual(again, { ...channel, created: false });

    const wanted = [...others.slice(0, 400), "00000000-0000-4000-8000-000000000000"];
    const { results } = await call(ctx(), "m365.addTeamMembers", { teamId, userIds: wanted, role: "member" });
    t.is(results.filter((r) => r.status === "added").length, 400);
    t.like(results.at(-1), { userId: "00000000-0000-4000-8000-000000000000", status: "failed" });
    t.regex(results.at(-1)!.error!, /NotFound/);
    t.is(team!.members.length, 401);

    t.deepEqual(await call(ctx(), "m365.removeTeamMember", { teamId, userId: others[0]! }), { status: "removed" });
    t.deepEqual(await call(ctx(), "m365.removeTeamMember", { teamId, userId: others[0]! }), { status: "notMember" });
    t.is(team!.members.length, 400);
  },
);

test.serial("owners added later need TeamMember.ReadWrite.All: each fails with the reason", async (t) => {
  const [owner, someone] = ids().slice(420);
  const { teamId } = await call(ctx(), "m365.createTeam", {
    displayName: "Runners",
    ownerIds: [owner!],
    idempotencyKey: "interest-group:runners",
  });
  const { results } = await call(ctx(), "m365.addTeamMembers", { teamId, userIds: [someone!], role: "owner" });
  t.is(results[0]!.status, "failed");
  t.regex(results[0]!.error!, /Forbidden/);
});

test.serial(
  "createTeam is idempotent by key: a retry returns the same team, with its webUrl; other parameters are refused",
  async (t) => {
    const owner = ids()[430]!;
    const params = { displayName: "Chess club", ownerIds: [owner], idempotencyKey: "interest-group:chess" };
    const first = await call(ctx(), "m365.createTeam", params);
    t.regex(first.webUrl!, /^https:\/\/teams\.microsoft\.com\/l\/team\//);
    t.deepEqual(await call(ctx(), "m365.createTeam", params), first);
    t.is(teamsNamed("Chess club").length, 1);
    const reused = await t.throwsAsync(call(ctx(), "m365.createTeam", { ...params, visibility: "public" }));
    t.like(reused, { code: 409, type: "M365_IDEMPOTENCY_KEY_REUSED" });
    t.is(teamsNamed("Chess club").length, 1);
  },
);

test.serial("concurrent calls with one key make one team", async (t) => {
  const params = { displayName: "Cyclists", ownerIds: [ids()[431]!], idempotencyKey: "interest-group:cyclists" };
  const results = await Promise.all([1, 2, 3].map(() => call(ctx(), "m365.createTeam", params)));
  t.is(new Set(results.map((r) => r.teamId)).size, 1);
  t.is(teamsNamed("Cyclists").length, 1);
});

test.serial("a provisioning that fails in Teams is a clear error; a retry with the key creates the team", async (t) => {
  const params = { displayName: "Photographers", ownerIds: [ids()[432]!], idempotencyKey: "interest-group:photo" };
  emulator.control.failTeamCreations(1, { code: "InternalServerError", message: "Provisioning failed." });
  const error = await t.throwsAsync(call(ctx(), "m365.createTeam", params));
  t.like(error, { code: 502, type: "M365_TEAM_CREATION_FAILED" });
  t.regex(error!.message, /Provisioning failed/);
  const { teamId } = await call(ctx(), "m365.createTeam", params);
  t.truthy(emulator.control.tenant.teams.ready(teamId));
  t.is(teamsNamed("Photographers").length, 1);
});

test.serial("a node killed while Teams provisions: the retry on another node resumes the same operation", async (t) => {
  const params = {
    displayName: "Cohort 2026-12",
    ownerIds: [ids()[433]!],
    visibility: "private" as const,
    idempotencyKey: "cohort:2026-12",
  };
  emulator.control.setTeamProvisioning(3600);
  t.teardown(() => emulator.control.setTeamProvisioning(3));
  const doomed = await cluster.startNode();
  const survivor = (
    cluster.broker.registry.getServiceList({ onlyAvailable: true }) as Array<{ name: string; nodeID: string }>
  ).find((s) => s.name === "m365" && s.nodeID !== doomed.nodeID)!.nodeID;
  call(ctx(), "m365.createTeam", params, { nodeID: doomed.nodeID }).catch(() => undefined);
  const [row] = await waitFor(
    "the creation accepted by Teams",
    () => sql(`select state, team_id from m365.team_creation where idempotency_key = ?`, [params.idempotencyKey]),
    (rows) => rows[0]?.state === "provisioning",
    10_000,
  );
  await doomed.kill();
  // Tell the test broker at once (it would notice the missing heartbeats only later).
  (
    cluster.broker.registry as unknown as { nodes: { disconnected(id: string, unexpected: boolean): void } }
  ).nodes.disconnected(doomed.nodeID, true);
  emulator.control.finishTeamProvisioning();
  const { teamId } = await call(ctx(), "m365.createTeam", params, { nodeID: survivor });
  t.is(teamId, row!.team_id as string);
  t.is(teamsNamed("Cohort 2026-12").length, 1);
});

test.serial(
  "an attempt stopped before Teams answered: the team Teams made is found by name, else it is created once",
  async (t) => {
    const owner = ids()[434]!;
    // The lost attempt's team exists in Teams, but m365 never recorded Teams' answer.
    const lost = { displayName: "Gardeners", ownerIds: [owner], visibility: "private" as const };
    const made = await call(ctx(), "m365.createTeam", { ...lost, idempotencyKey: "scratch" });
    await sql(`delete from m365.team_creation where idempotency_key = 'scratch'`);
    const stale = async (key: string, request: typeof lost) =>
      sql(
        `insert into m365.team_creation (idempotency_key, request_hash, display_name, state, attempt, attempted_at, updated_at)
       values (?, ?, ?, 'posting', 1, now() - interval '10 minutes', now() - interval '10 minutes')`,
        [key, teamRequestHash(request), request.displayName],
      );
    await stale("interest-group:gardeners", lost);
    const found = await call(ctx(), "m365.createTeam", { ...lost, idempotencyKey: "interest-group:gardeners" });
    t.is(found.teamId, made.teamId);
    t.is(teamsNamed("Gardeners").length, 1);

    // Nothing in Teams for it: the retry creates the team, once.
    const never = { displayName: "Knitters", ownerIds: [owner], visibility: "private" as const };
    await stale("interest-group:knitters", never);
    const created = await call(ctx(), "m365.createTeam", { ...never, idempotencyKey: "interest-group:knitters" });
    t.deepEqual(
      teamsNamed("Knitters").map((x) => x.id),
      [created.teamId],
    );
    t.is(creationsNamed("Knitters").length, 1);
  },
);

test.serial(
  "permissions the tenant has not granted: clear errors naming them; webUrl is left out without Team.ReadBasic.All",
  async (t) => {
    const owner = ids()[435]!;
    const { teamId } = await call(ctx(), "m365.createTeam", {
      displayName: "Readers",
      ownerIds: [owner],
      idempotencyKey: "interest-group:readers",
    });
    for (const p of ["Channel.Create", "TeamMember.ReadWriteNonOwnerRole.All", "Team.Create", "Team.ReadBasic.All"]) {
      emulator.control.revoke(p);
    }
    t.teardown(() => {
      for (const p of ["Channel.Create", "TeamMember.ReadWriteNonOwnerRole.All", "Team.Create", "Team.ReadBasic.All"]) {
        emulator.control.grant(p);
      }
    });
    // A new node gets a new token, without the revoked permissions.
    const node = await cluster.startNode();
    const opts = { nodeID: node.nodeID };
    const channel = await t.throwsAsync(call(ctx(), "m365.createChannel", { teamId, displayName: "New" }, opts));
    t.like(channel, { code: 403, type: "M365_PERMISSION_MISSING" });
    t.regex(channel!.message, /Channel\.Create/);
    const members = await t.throwsAsync(
      call(ctx(), "m365.addTeamMembers", { teamId, userIds: [ids()[436]!], role: "member" }, opts),
    );
    t.regex(members!.message, /TeamMember\.ReadWriteNonOwnerRole\.All/);
    const created = await t.throwsAsync(
      call(ctx(), "m365.createTeam", { displayName: "Denied", ownerIds: [owner], idempotencyKey: "denied" }, opts),
    );
    t.regex(created!.message, /Team\.Create/);
    t.deepEqual(await sql(`select * from m365.team_creation where idempotency_key = 'denied'`), [], "nothing kept");

    // Team.Create alone is enough to create a team; only its webUrl needs the read permission.
    emulator.control.grant("Team.Create");
    const other = await cluster.startNode();
    const plain = await call(
      ctx(),
      "m365.createTeam",
      { displayName: "No link", ownerIds: [owner], idempotencyKey: "interest-group:no-link" },
      { nodeID: other.nodeID },
    );
    t.truthy(emulator.control.tenant.teams.ready(plain.teamId));
    t.is(plain.webUrl, undefined);
  },
);
