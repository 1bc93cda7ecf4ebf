// Teams for interest groups and cohorts (shared/reference/m365.md §1): creation is asynchronous (202 and an
// operation to poll), app-only creation must name an owner; channels; members in bulk (200 per call, partial
// results). Budgets: teamsCreate per app, then 4 requests per second per team (domain/limit-classes.ts).
import { setTimeout as sleep } from "node:timers/promises";
import { ResponseType } from "@microsoft/microsoft-graph-client";
import moleculer from "moleculer";
import type { GraphApi } from "./graph-client.ts";
import { failure, send } from "./graph-operations.ts";
import { type TeamCreations, type TeamRequest, teamRequestHash } from "./team-creations.ts";

const { MoleculerClientError, MoleculerError } = moleculer.Errors;

export const MAX_MEMBERS_PER_CALL = 200;
/** How long createTeam waits for Teams to provision a team before it gives up (a retry with the key resumes). */
const PROVISIONING_TIMEOUT_MS = 120_000;
/** An attempt older than this that never recorded Teams' 202 is taken to have stopped (crash, lost answer). */
const POSTING_LEASE_MS = 60_000;

const userBind = (id: string) => `https://graph.microsoft.com/v1.0/users('${id}')`;
const memberBody = (userId: string, role: "member" | "owner") => ({
  "@odata.type": "#microsoft.graph.aadUserConversationMember",
  roles: role === "owner" ? ["owner"] : [],
  "user@odata.bind": userBind(userId),
});

export type CreateTeamDeps = {
  creations: TeamCreations;
  log?: (message: string, data: Record<string, unknown>) => void;
  /** How long an attempt may take to get Teams' 202 before another caller with the key may take it over. */
  postingLeaseMs?: number;
  provisioningTimeoutMs?: number;
};

type CreateTeamParams = TeamRequest & { idempotencyKey: string };

const keyReused = (key: string) =>
  new MoleculerClientError(
    "This idempotencyKey was used for a team with other parameters",
    409,
    "M365_IDEMPOTENCY_KEY_REUSED",
    { fields: [{ field: "idempotencyKey", message: `already used for another team request: ${key}` }] },
  );

/**
 * Creates the team once per idempotency key and waits until Teams has provisioned it. The key is remembered
 * before the POST and the team's id as soon as Teams accepts it, so a retry resumes (polls the same operation)
 * instead of posting again. A retry that finds an attempt stopped between the POST and Teams' answer looks the team
 * up by name (Team.ReadBasic.All) before it posts again.
 */
export async function createTeam(
  graph: GraphApi,
  team: CreateTeamParams,
  deps: CreateTeamDeps,
): Promise<{ teamId: string; webUrl?: string }> {
  const key = team.idempotencyKey;
  const hash = teamRequestHash(team);
  const lease = deps.postingLeaseMs ?? POSTING_LEASE_MS;
  let { row, claimed } = await deps.creations.claim(key, hash, team.displayName);
  if (row.requestHash !== hash) throw keyReused(key);
  for (;;) {
    if (claimed) {
      const accepted = await postTeam(graph, team, deps.creations, row.attempt);
      deps.log?.("Team creation accepted by Teams", { idempotencyKey: key, ...accepted });
      row = { ...row, state: "provisioning", teamId: accepted.teamId, operationId: accepted.operationId };
      claimed = false;
    }
    switch (row.state) {
      case "succeeded":
        return { teamId: row.teamId!, ...(row.webUrl ? { webUrl: row.webUrl } : {}) };
      case "provisioning": {
        const outcome = await waitForProvisioning(graph, row.teamId!, row.operationId!, deps);
        if (outcome.failed !== undefined) {
          await deps.creations.failed(key, row.attempt, outcome.failed);
          throw new MoleculerError(
            `Teams could not create the team: ${outcome.failed}. Retrying with the same idempotencyKey tries again`,
            502,
            "M365_TEAM_CREATION_FAILED",
            { teamId: row.teamId, idempotencyKey: key },
          );
        }
        const webUrl = await teamWebUrl(graph, row.teamId!);
        await deps.creations.succeeded(key, row.teamId!, webUrl);
        return { teamId: row.teamId!, ...(webUrl ? { webUrl } : {}) };
      }
      case "failed": {
        // Teams provisioned nothing: this attempt starts again (unless another caller already did).
        const again = await deps.creations.reclaim(key, row.attempt);
        if (again) [row, claimed] = [again, true];
        else row = (await deps.creations.get(key)) ?? row;
        break;
      }
      case "posting": {
        const age = Date.now() - new Date(row.attemptedAt).getTime();
        if (age < lease) {
          // Another caller is posting with this key right now: wait for its answer.
          await sleep(Math.min(500, lease - age));
          const current = await deps.creations.get(key);
          if (!current) ({ row, claimed } = await deps.creations.claim(key, hash, team.displayName));
          else row = current;
          break;
        }
        // An attempt stopped between its POST and Teams' answer: Teams may or may not have the team.
        const taken = await deps.creations.reclaim(key, row.attempt);
        if (!taken) {
          row = (await deps.creations.get(key)) ?? row;
          break;
        }
        row = taken;
        const found = await findCreatedTeam(graph, team, deps.creations, key);
        if (found) {
          deps.log?.("Team of an interrupted creation found by name", { idempotencyKey: key, teamId: found });
          const webUrl = await teamWebUrl(graph, found);
          await deps.creations.succeeded(key, found, webUrl);
          return { teamId: found, ...(webUrl ? { webUrl } : {}) };
        }
        claimed = true;
        break;
      }
    }
  }
}

/** POST /teams; Teams' 202 is recorded before anything else. A refusal forgets the attempt (nothing was created). */
async function postTeam(
  graph: GraphApi,
  team: TeamRequest,
  creations: TeamCreations,
  attempt: number,
): Promise<{ teamId: string; operationId: string }> {
  const key = (team as CreateTeamParams).idempotencyKey;
  const response = await send(() =>
    graph.client
      .api("/teams")
      .responseType(ResponseType.RAW)
      .post({
        "template@odata.bind": "https://graph.microsoft.com/v1.0/teamsTemplates('standard')",
        displayName: team.displayName,
        ...(team.description ? { description: team.description } : {}),
        visibility: team.visibility,
        members: team.ownerIds.map((id) => memberBody(id, "owner")),
      }),
  );
  if (response.status !== 202) {
    await creations.release(key, attempt);
    throw await failure("createTeam", response);
  }
  await response.body?.cancel().catch(() => undefined);
  const location = response.headers.get("location") ?? "";
  const match = /teams\('([^']+)'\)\/operations\('([^']+)'\)/.exec(location);
  if (!match) {
    // Accepted, but with nothing to follow: the lookup by name of a later retry will find the team.
    throw new Error(`Graph accepted the team but gave no operation to follow (Location: ${location})`);
  }
  const [, teamId, operationId] = match as unknown as [string, string, string];
  await creations.accepted(key, attempt, teamId, operationId);
  return { teamId, operationId };
}

async function waitForProvisioning(
  graph: GraphApi,
  teamId: string,
  operationId: string,
  deps: CreateTeamDeps,
): Promise<{ failed?: string }> {
  const deadline = Date.now() + (deps.provisioningTimeoutMs ?? PROVISIONING_TIMEOUT_MS);
  for (let attempt = 0; ; attempt++) {
    // Teams usually needs seconds; ask again after 0.5 s, 1 s, 2 s, then every 5 s.
    await sleep(Math.min(5000, 500 * 2 ** attempt));
    const poll = await send(() =>
      graph.client
        .api(`/teams/${encodeURIComponent(teamId)}/operations/${encodeURIComponent(operationId)}`)
        .responseType(ResponseType.RAW)
        .get(),
    );
    if (poll.status !== 200) throw await failure("createTeam", poll);
    const operation = (await poll.json()) as { status?: string; error?: { code?: string; message?: string } | null };
    if (operation.status === "succeeded") return {};
    if (operation.status === "failed") {
      const error = operation.error;
      return { failed: error ? `${error.code ?? "error"}: ${error.message ?? "no reason given"}` : "no reason given" };
    }
    if (Date.now() > deadline) {
      throw new MoleculerError(
        "Teams is still provisioning the team; retry with the same idempotencyKey to keep waiting",
        504,
        "M365_TEAM_PROVISIONING_SLOW",
        { teamId, operationId },
      );
    }
  }
}

/** The team's link in Teams; null when the app may not read teams (Team.ReadBasic.All), which is not fatal. */
async function teamWebUrl(graph: GraphApi, teamId: string): Promise<string | null> {
  const response = await send(() =>
    graph.client
      .api(`/teams/${encodeURIComponent(teamId)}`)
      .responseType(ResponseType.RAW)
      .get(),
  );
  if (response.status === 403 || response.status === 404) {
    await response.body?.cancel().catch(() => undefined);
    return null;
  }
  if (response.status !== 200) throw await failure("readTeams", response);
  return ((await response.json()) as { webUrl?: string | null }).webUrl ?? null;
}

/**
 * After an interrupted attempt: the team Teams made for it, if any — same name, description and visibility, the
 * requested owners among its owners, and not created for another key. Several candidates, or no permission to
 * look, is a clear 409 rather than a guess (a second team is what the key exists to prevent).
 */
async function findCreatedTeam(
  graph: GraphApi,
  team: TeamRequest,
  creations: TeamCreations,
  key: string,
): Promise<string | undefined> {
  const filter = `displayName eq '${team.displayName.replace(/'/g, "''")}'`;
  const listed: Array<{ id: string; description?: string | null; visibility?: string | null }> = [];
  let link: string | undefined = `/teams?$filter=${encodeURIComponent(filter)}`;
  while (link) {
    const url: string = link;
    const response = await send(() => graph.client.api(url).responseType(ResponseType.RAW).get());
    if (response.status === 403) {
      await response.body?.cancel().catch(() => undefined);
      throw uncertain(
        team,
        key,
        "Hearth cannot look it up without the application permission Team.ReadBasic.All; check Teams, then retry " +
          "with a new key if there is no such team",
      );
    }
    if (response.status !== 200) throw await failure("readTeams", response);
    const page = (await response.json()) as { value: typeof listed; "@odata.nextLink"?: string };
    listed.push(...page.value);
    link = page["@odata.nextLink"];
  }
  const same = listed.filter(
    (t) => (t.description ?? "") === (team.description ?? "") && (t.visibility ?? team.visibility) === team.visibility,
  );
  const taken = await creations.ownedByOtherKeys(
    key,
    same.map((t) => t.id),
  );
  const candidates: string[] = [];
  for (const t of same.filter((x) => !taken.has(x.id.toLowerCase()))) {
    const owners = await teamOwners(graph, t.id);
    if (team.ownerIds.every((id) => owners.has(id.toLowerCase()))) candidates.push(t.id);
  }
  if (candidates.length > 1) {
    throw uncertain(team, key, `${candidates.length} teams match (${candidates.join(", ")}); pick one in Teams`);
  }
  return candidates[0];
}

async function teamOwners(graph: GraphApi, teamId: string): Promise<Set<string>> {
  const response = await send(() =>
    graph.client
      .api(`/teams/${encodeURIComponent(teamId)}/members`)
      .responseType(ResponseType.RAW)
      .get(),
  );
  if (response.status !== 200) throw await failure("readTeams", response);
  const members = ((await response.json()) as { value: Array<{ userId?: string; roles?: string[] }> }).value;
  return new Set(members.filter((m) => m.roles?.includes("owner") && m.userId).map((m) => m.userId!.toLowerCase()));
}

function uncertain(team: TeamRequest, key: string, detail: string) {
  return new MoleculerError(
    `An earlier attempt with this idempotencyKey stopped before Teams answered, so team "${team.displayName}" may ` +
      `exist: ${detail}`,
    409,
    "M365_TEAM_CREATION_UNCERTAIN",
    { idempotencyKey: key, displayName: team.displayName },
  );
}

type GraphChannel = { id: string; displayName: string; webUrl?: string | null };

async function listChannels(graph: GraphApi, teamId: string): Promise<GraphChannel[]> {
  const response = await send(() =>
    graph.client
      .api(`/teams/${encodeURIComponent(teamId)}/channels`)
      .responseType(ResponseType.RAW)
      .get(),
  );
  if (response.status !== 200) throw await failure("createChannel", response);
  return ((await response.json()) as { value: GraphChannel[] }).value;
}

export async function createChannel(graph: GraphApi, teamId: string, displayName: string, description?: string) {
  const same = (c: GraphChannel) => c.displayName.toLowerCase() === displayName.toLowerCase();
  const existing = (await listChannels(graph, teamId)).find(same);
  if (existing) return { channelId: existing.id, webUrl: existing.webUrl ?? null, created: false };
  const response = await send(() =>
    graph.client
      .api(`/teams/${encodeURIComponent(teamId)}/channels`)
      .responseType(ResponseType.RAW)
      .post({ displayName, ...(description ? { description } : {}), membershipType: "standard" }),
  );
  if (response.status === 201) {
    const channel = (await response.json()) as GraphChannel;
    return { channelId: channel.id, webUrl: channel.webUrl ?? null, created: true };
  }
  // Another replica created it between our read and our write.
  const again = response.status === 400 ? (await listChannels(graph, teamId)).find(same) : undefined;
  if (again) return { channelId: again.id, webUrl: again.webUrl ?? null, created: false };
  throw await failure("createChannel", response);
}

export async function addTeamMembers(graph: GraphApi, teamId: string, userIds: string[], role: "member" | "owner") {
  const unique = [...new Set(userIds)];
  const results: Array<{ userId: string; status: "added" | "failed"; error?: string }> = [];
  for (let i = 0; i < unique.length; i += MAX_MEMBERS_PER_CALL) {
    const chunk = unique.slice(i, i + MAX_MEMBERS_PER_CALL);
    const response = await send(() =>
      graph.client
        .api(`/teams/${encodeURIComponent(teamId)}/members/add`)
        .responseType(ResponseType.RAW)
        .post({ values: chunk.map((id) => memberBody(id, role)) }),
    );
    if (response.status !== 200) throw await failure("addTeamMembers", response);
    const parts = (
      (await response.json()) as {
        value: Array<{ userId?: string; error?: { code?: string; message?: string } | null }>;
      }
    ).value;
    // Results name the user; a part without one is matched by position.
    chunk.forEach((userId, index) => {
      const part = parts.find((p) => p.userId?.toLowerCase() === userId.toLowerCase()) ?? parts[index];
      if (part && !part.error) results.push({ userId, status: "added" });
      else
        results.push({
          userId,
          status: "failed",
          error: part?.error ? `${part.error.code}: ${part.error.message}` : "no result",
        });
    });
  }
  return results;
}

export async function removeTeamMember(graph: GraphApi, teamId: string, userId: string) {
  const list = await send(() =>
    graph.client
      .api(`/teams/${encodeURIComponent(teamId)}/members`)
      .responseType(ResponseType.RAW)
      .get(),
  );
  if (list.status !== 200) throw await failure("removeTeamMember", list);
  const members = ((await list.json()) as { value: Array<{ id: string; userId?: string }> }).value;
  const membership = members.find((m) => m.userId?.toLowerCase() === userId.toLowerCase());
  if (!membership) return "notMember" as const;
  const response = await send(() =>
    graph.client
      .api(`/teams/${encodeURIComponent(teamId)}/members/${encodeURIComponent(membership.id)}`)
      .responseType(ResponseType.RAW)
      .delete(),
  );
  if (response.status === 204) return "removed" as const;
  // Gone meanwhile (another replica, or an admin): the person is not a member, which is what was asked.
  if (response.status === 404) return "notMember" as const;
  throw await failure("removeTeamMember", response);
}
