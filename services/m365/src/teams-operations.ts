// Teams for interest groups and cohorts (shared/reference/m365.md §1): creation is asynchronous (202 and an
// operation to poll), app-only creation must name an owner; channels; members in bulk (200 per call, partial
// results). Budgets: teamsCreate per app, then 4 requests per second per team (domain/limit-classes.ts).
import { setTimeout as sleep } from "node:timers/promises";
import { ResponseType } from "@microsoft/microsoft-graph-client";
import moleculer from "moleculer";
import type { GraphApi } from "./graph-client.ts";
import { failure, send } from "./graph-operations.ts";

const { MoleculerError } = moleculer.Errors;

export const MAX_MEMBERS_PER_CALL = 200;
/** How long createTeam waits for Teams to provision a team before it gives up (the team may still appear). */
const PROVISIONING_TIMEOUT_MS = 120_000;

const userBind = (id: string) => `https://graph.microsoft.com/v1.0/users('${id}')`;
const memberBody = (userId: string, role: "member" | "owner") => ({
  "@odata.type": "#microsoft.graph.aadUserConversationMember",
  roles: role === "owner" ? ["owner"] : [],
  "user@odata.bind": userBind(userId),
});

export async function createTeam(
  graph: GraphApi,
  team: { displayName: string; description?: string; ownerIds: string[]; visibility: "private" | "public" },
): Promise<{ teamId: string }> {
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
  if (response.status !== 202) throw await failure("createTeam", response);
  await response.body?.cancel().catch(() => undefined);
  const location = response.headers.get("location") ?? "";
  const match = /teams\('([^']+)'\)\/operations\('([^']+)'\)/.exec(location);
  if (!match) throw new Error(`Graph accepted the team but gave no operation to follow (Location: ${location})`);
  const [, teamId, operationId] = match as unknown as [string, string, string];
  const deadline = Date.now() + PROVISIONING_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    // Teams usually needs seconds; ask again after 0.5 s, 1 s, 2 s, then every 5 s.
    await sleep(Math.min(5000, 500 * 2 ** attempt));
    const poll = await send(() =>
      graph.client.api(`/teams/${teamId}/operations/${operationId}`).responseType(ResponseType.RAW).get(),
    );
    if (poll.status !== 200) throw await failure("createTeam", poll);
    const operation = (await poll.json()) as { status?: string; error?: { message?: string } | null };
    if (operation.status === "succeeded") return { teamId };
    if (operation.status === "failed") {
      throw new MoleculerError(
        `Teams could not create the team: ${operation.error?.message ?? "no reason given"}`,
        502,
        "M365_TEAM_CREATION_FAILED",
        { teamId },
      );
    }
    if (Date.now() > deadline) {
      throw new MoleculerError(
        "Teams is still provisioning the team; it will appear later",
        504,
        "M365_TEAM_PROVISIONING_SLOW",
        { teamId, operationId },
      );
    }
  }
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
