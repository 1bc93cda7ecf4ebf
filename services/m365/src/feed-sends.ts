// The bulk activity feed with the two things Graph does not do (shared/reference/m365.md §1):
// - Graph accepts a bulk call as a whole and drops recipients without Hearth's Teams app silently. So people not
//   known to have the app (teams_app_installation: Graph said installed or already installed, or Teams' install event
//   reached the bot) get it installed first through Graph (teamsInstalledApps budget, 30 per second), when
//   M365_TEAMS_APP_ID is set.
// - Graph has no idempotency key for the bulk feed. With the caller's key, each Graph call of ≤ 100 people is
//   recorded (feed_send_chunk) before it is made and marked accepted when Graph answers 202; a repeat of the call
//   (its caller died and lost the answer) gets the recorded outcome for accepted chunks and sends only the others.
//   What remains: a chunk whose Graph call was on the wire when this m365 node died, or whose 202 was not yet
//   recorded, is sent again by the repeat (≤ 100 people per such call), because nothing in Graph tells whether it
//   arrived.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { GraphApi } from "./graph-client.ts";
import {
  type Activity,
  BULK_PARALLELISM,
  BULK_RECIPIENTS,
  installAppForUser,
  type RecipientResult,
  sendActivityNotifications,
  sendBulk,
} from "./messaging-operations.ts";

type Execute = (sql: string, params: unknown[]) => Promise<unknown>;

export type FeedResult = RecipientResult & { installed?: boolean };

export type FeedSendDeps = {
  execute: Execute;
  schema: string;
  /** Hearth's Teams app in the org catalog; without it nobody is installed (people without the app get nothing). */
  teamsAppId?: string;
  /** How long a chunk stays claimed by the call sending it without a heartbeat. */
  leaseMs?: number;
  /** How often a repeat looks whether another call finished the chunks it waits for. */
  pollMs?: number;
  log?: (message: string, data: Record<string, unknown>) => void;
};

const INSTALL_PARALLELISM = 8;

async function rows(deps: FeedSendDeps, sql: string, params: unknown[]) {
  return (await deps.execute(sql, params)) as Array<Record<string, any>>;
}

/** Records that the app is installed for these people (source "graph" or "bot"). */
export async function recordInstallations(
  execute: Execute,
  schema: string,
  userIds: string[],
  source: "graph" | "bot",
): Promise<void> {
  if (userIds.length === 0) return;
  await execute(
    `insert into "${schema}".teams_app_installation (user_id, source, confirmed_at)
     select u, ?, clock_timestamp() from unnest(?::uuid[]) as u
     on conflict (user_id) do update set source = excluded.source, confirmed_at = excluded.confirmed_at`,
    [source, `{${userIds.join(",")}}`],
  );
}

export async function forgetInstallation(execute: Execute, schema: string, userId: string): Promise<void> {
  await execute(`delete from "${schema}".teams_app_installation where user_id = ?`, [userId]);
}

/**
 * Installs the app for the people not known to have it. Returns who may get the feed and the failures (a person
 * Graph does not know, a missing permission: their feed would be dropped anyway).
 */
async function ensureInstalled(
  graph: GraphApi,
  deps: FeedSendDeps,
  userIds: string[],
): Promise<{ reachable: string[]; installed: Set<string>; failed: Map<string, string> }> {
  const installed = new Set<string>();
  const failed = new Map<string, string>();
  const teamsAppId = deps.teamsAppId;
  if (!teamsAppId) return { reachable: userIds, installed, failed };
  const known = new Set(
    (
      await rows(deps, `select user_id from "${deps.schema}".teams_app_installation where user_id = any(?::uuid[])`, [
        `{${userIds.join(",")}}`,
      ])
    ).map((r) => String(r.user_id)),
  );
  const missing = userIds.filter((id) => !known.has(id));
  const confirmed: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < missing.length) {
      const userId = missing[next++]!;
      try {
        const status = await installAppForUser(graph, userId, teamsAppId);
        if (status === "installed") installed.add(userId);
        confirmed.push(userId);
      } catch (error) {
        const e = error as Error & { type?: string };
        if (e.type === "M365_PERMISSION_MISSING") throw error;
        failed.set(userId, `Teams app not installed and could not be: ${e.message}`.slice(0, 1000));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(INSTALL_PARALLELISM, missing.length) }, worker));
  await recordInstallations(deps.execute, deps.schema, confirmed, "graph");
  if (missing.length > 0) {
    deps.log?.("Teams app installed before the activity feed", {
      checked: missing.length,
      installed: installed.size,
      failed: failed.size,
    });
  }
  return { reachable: userIds.filter((id) => !failed.has(id)), installed, failed };
}

/** m365.sendActivityNotifications: install where missing, then the bulk feed, idempotent with a key. */
export async function sendFeed(
  graph: GraphApi,
  deps: FeedSendDeps,
  recipientIds: string[],
  activity: Activity,
  idempotencyKey?: string,
): Promise<FeedResult[]> {
  const unique = [...new Set(recipientIds.map((id) => id.toLowerCase()))];
  const { reachable, installed, failed } = await ensureInstalled(graph, deps, unique);
  const sent =
    reachable.length === 0
      ? []
      : idempotencyKey
        ? await sendOnce(graph, deps, reachable, activity, idempotencyKey)
        : await sendActivityNotifications(graph, reachable, activity);
  const byUser = new Map(sent.map((r) => [r.userId, r]));
  return unique.map((userId) => {
    const problem = failed.get(userId);
    if (problem !== undefined) return { userId, status: "failed", error: problem };
    const result = byUser.get(userId)!;
    return installed.has(userId) ? { ...result, installed: true } : result;
  });
}

type ChunkRow = { chunk: number; recipient_ids: string[]; state: string; error: string | null };

async function sendOnce(
  graph: GraphApi,
  deps: FeedSendDeps,
  recipientIds: string[],
  activity: Activity,
  key: string,
): Promise<RecipientResult[]> {
  const table = `"${deps.schema}".feed_send_chunk`;
  const leaseMs = deps.leaseMs ?? 60_000;
  const me = randomUUID();
  const wanted = new Set(recipientIds);
  // Chunks of this key that hold the people asked for; people no chunk holds yet get new chunks, owned by this call.
  let chunks: ChunkRow[] = [];
  for (;;) {
    chunks = (await rows(deps, `select chunk, recipient_ids, state, error from ${table} where idempotency_key = ?`, [
      key,
    ])) as ChunkRow[];
    const covered = new Set(chunks.flatMap((c) => c.recipient_ids));
    const uncovered = recipientIds.filter((id) => !covered.has(id));
    if (uncovered.length === 0) break;
    const first = chunks.reduce((max, c) => Math.max(max, c.chunk + 1), 0);
    const fresh = [];
    for (let i = 0; i < uncovered.length; i += BULK_RECIPIENTS) {
      fresh.push({ chunk: first + i / BULK_RECIPIENTS, ids: uncovered.slice(i, i + BULK_RECIPIENTS) });
    }
    const inserted = await rows(
      deps,
      `insert into ${table} (idempotency_key, chunk, recipient_ids, state, owner, claimed_until, updated_at)
       select ?, v.chunk, v.ids, 'pending', ?::uuid, clock_timestamp() + make_interval(secs => ?), clock_timestamp()
       from jsonb_to_recordset(?::jsonb) as v(chunk int, ids jsonb)
       on conflict do nothing returning chunk`,
      [key, me, leaseMs / 1000, JSON.stringify(fresh)],
    );
    // A concurrent repeat took some of these numbers: read again and cover the rest.
    if (inserted.length === fresh.length) {
      chunks.push(
        ...fresh.map((f) => ({ chunk: f.chunk, recipient_ids: f.ids, state: "pending", error: null }) as ChunkRow),
      );
      break;
    }
    if (inserted.length > 0) {
      await rows(deps, `delete from ${table} where idempotency_key = ? and owner = ?::uuid and state = 'pending'`, [
        key,
        me,
      ]);
    }
  }
  const needed = chunks.filter((c) => c.recipient_ids.some((id) => wanted.has(id))).map((c) => c.chunk);
  const attempted = new Set<number>();
  const heartbeat = setInterval(
    () => {
      rows(
        deps,
        `update ${table} set claimed_until = clock_timestamp() + make_interval(secs => ?)
         where idempotency_key = ? and owner = ?::uuid and state = 'pending'`,
        [leaseMs / 1000, key, me],
      ).catch(() => undefined);
    },
    Math.max(50, leaseMs / 3),
  );
  try {
    for (;;) {
      // Ours now: chunks this call created, and others' that are not accepted and whose sender stopped (its claim
      // ran out) or failed. A chunk this call already tried is not tried again (its failure is the answer).
      const open = needed.filter((c) => !attempted.has(c));
      const mine = (await rows(
        deps,
        `update ${table} set owner = ?::uuid, claimed_until = clock_timestamp() + make_interval(secs => ?),
           updated_at = clock_timestamp()
         where idempotency_key = ? and chunk = any(?::int[]) and state <> 'accepted'
           and (owner = ?::uuid or claimed_until is null or claimed_until < clock_timestamp())
         returning chunk, recipient_ids, state`,
        [me, leaseMs / 1000, key, `{${open.join(",")}}`, me],
      )) as ChunkRow[];
      const taken = mine;
      for (const c of taken) attempted.add(c.chunk);
      await sendChunks(graph, deps, table, key, me, taken, activity);
      const states = (await rows(
        deps,
        `select chunk, recipient_ids, state, error from ${table} where idempotency_key = ? and chunk = any(?::int[])`,
        [key, `{${needed.join(",")}}`],
      )) as ChunkRow[];
      const waiting = states.filter((c) => c.state === "pending" || (c.state === "failed" && !attempted.has(c.chunk)));
      if (waiting.length === 0) return resultsFrom(states, recipientIds);
      // Another call is sending them: wait for its outcome (or for its claim to run out).
      await sleep(deps.pollMs ?? 200);
    }
  } finally {
    clearInterval(heartbeat);
  }
}

async function sendChunks(
  graph: GraphApi,
  deps: FeedSendDeps,
  table: string,
  key: string,
  me: string,
  chunks: ChunkRow[],
  activity: Activity,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      let state = "accepted";
      let error: string | null = null;
      let fatal: unknown;
      try {
        await sendBulk(graph, chunk.recipient_ids, activity);
      } catch (e) {
        const err = e as Error & { type?: string };
        state = "failed";
        error = err.message.slice(0, 1000);
        if (err.type === "M365_PERMISSION_MISSING") fatal = e;
      }
      await rows(
        deps,
        `update ${table} set state = ?, error = ?, claimed_until = null, updated_at = clock_timestamp()
         where idempotency_key = ? and chunk = ? and owner = ?::uuid`,
        [state, error, key, chunk.chunk, me],
      );
      if (fatal) throw fatal;
    }
  };
  await Promise.all(Array.from({ length: Math.min(BULK_PARALLELISM, chunks.length) }, worker));
}

function resultsFrom(chunks: ChunkRow[], recipientIds: string[]): RecipientResult[] {
  const byUser = new Map<string, RecipientResult>();
  for (const c of chunks) {
    for (const userId of c.recipient_ids) {
      byUser.set(
        userId,
        c.state === "accepted"
          ? { userId, status: "accepted" }
          : { userId, status: "failed", error: c.error ?? "not sent" },
      );
    }
  }
  return recipientIds.map((userId) => byUser.get(userId)!);
}

/** Records of feed calls older than a day: no caller repeats a call that late. */
export async function sweepFeedSends(execute: Execute, schema: string): Promise<number> {
  const removed = (await execute(
    `delete from "${schema}".feed_send_chunk where updated_at < clock_timestamp() - interval '1 day' returning 1`,
    [],
  )) as unknown[];
  return removed.length;
}
