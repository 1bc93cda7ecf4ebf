// Teams, channels and members through the real m365 service (child node, NATS) against the Graph emulator.
import type { GraphEmulator } from "@hearth/graph-emulator";
import { call } from "@hearth/platform";
import test from "ava";
import { type M365Cluster, startM365Cluster } from "./fixtures/m365-cluster.ts";

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
