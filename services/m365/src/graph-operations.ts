import { setTimeout as sleep } from "node:timers/promises";
import { type ResultOf, type readDirectoryChanges, toChangeRows } from "@hearth/contracts";
import { ResponseType } from "@microsoft/microsoft-graph-client";
import {
  backoffMs,
  buildBatchBody,
  chunk,
  retryAfterMs,
  type SubRequest,
  type SubResponse,
  sortBatchResponses,
  THROTTLED_STATUSES,
} from "./domain/batch.ts";
import { DIRECTORY_SELECT, type GraphDeltaUser, toDirectoryChange } from "./domain/directory.ts";
import { classifyGraphError, type GraphOperation } from "./domain/graph-errors.ts";
import { toIanaTimeZone } from "./domain/time-zones.ts";
import { toMoleculerError } from "./errors.ts";
import { type GraphApi, unwrapGraphError } from "./graph-client.ts";

/** Runs a Graph client call; errors raised by our middleware come out as the Hearth errors they are. */
export async function send(request: () => Promise<unknown>): Promise<Response> {
  try {
    return (await request()) as Response;
  } catch (error) {
    throw unwrapGraphError(error);
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: `HTTP${response.status}`, message: text.slice(0, 200) } };
  }
}

/** Graph's error answer → the Hearth error for it (a missing permission named; otherwise Graph's code kept). */
export async function failure(operation: GraphOperation, response: Response): Promise<Error> {
  return toMoleculerError(classifyGraphError(operation, response.status, await readJson(response)), operation);
}

/** A page as m365.readDirectoryChanges answers it (changes as rows: toChangeRows), before it names its reader. */
export type DirectoryPage = Omit<ResultOf<typeof readDirectoryChanges>, "readBy">;

/** One page of users delta: the first (no link), a continuation (nextLink) or the changes since (deltaLink). */
export async function readDirectoryPage(graph: GraphApi, link?: string, pageSize?: number): Promise<DirectoryPage> {
  if (link && new URL(link).origin !== new URL(graph.graphUrl).origin) {
    throw new Error(`A delta link must point at ${graph.graphUrl}`);
  }
  const request = link ? graph.client.api(link) : graph.client.api("/users/delta").select([...DIRECTORY_SELECT]);
  // Graph applies the page size asked for on each request of the read, so every page carries it.
  if (pageSize) request.header("Prefer", `odata.maxpagesize=${pageSize}`);
  const response = await send(() => request.responseType(ResponseType.RAW).get());
  if (response.status === 410) {
    await response.body?.cancel().catch(() => undefined);
    return { changes: [], resyncRequired: true };
  }
  if (!response.ok) throw await failure("readDirectoryChanges", response);
  const page = (await response.json()) as {
    value?: GraphDeltaUser[];
    "@odata.nextLink"?: string;
    "@odata.deltaLink"?: string;
  };
  return {
    changes: toChangeRows((page.value ?? []).map(toDirectoryChange)),
    ...(page["@odata.nextLink"] ? { nextLink: page["@odata.nextLink"] } : {}),
    ...(page["@odata.deltaLink"] ? { deltaLink: page["@odata.deltaLink"] } : {}),
    resyncRequired: false,
  };
}

/**
 * Sends sub-requests through JSON $batch (≤ 20 each), charging every sub-request to its budget (`charge` gets the
 * sub-requests of one $batch at a time), retrying only the throttled ones after the largest Retry-After. Returns the
 * final sub-response of every request.
 */
export async function sendBatched(
  graph: GraphApi,
  operation: GraphOperation,
  requests: SubRequest[],
  charge: (requests: SubRequest[]) => Promise<void>,
  throttled: (request: SubRequest, retryAfterMs: number) => Promise<void> = async () => undefined,
): Promise<Map<string, SubResponse>> {
  const results = new Map<string, SubResponse>();
  await Promise.all(
    chunk(requests).map(async (batch) => {
      let pending = batch;
      for (let attempt = 1; pending.length > 0; attempt++) {
        await charge(pending);
        const response = await send(() =>
          graph.client.api("/$batch").responseType(ResponseType.RAW).post(buildBatchBody(pending)),
        );
        if (THROTTLED_STATUSES.has(response.status) && attempt < graph.maxAttempts) {
          // The middleware gave up on the $batch itself; none of its sub-requests ran: the whole batch goes again.
          await response.body?.cancel().catch(() => undefined);
          await sleep(retryAfterMs(response.headers.get("Retry-After")) ?? backoffMs(attempt));
          continue;
        }
        if (!response.ok) throw await failure(operation, response);
        const body = (await response.json()) as { responses?: SubResponse[] };
        const outcome = sortBatchResponses(
          pending.map((r) => r.id),
          body.responses ?? [],
          backoffMs(attempt),
        );
        for (const [id, sub] of outcome.done) results.set(id, sub);
        if (outcome.retry.length > 0 && attempt >= graph.maxAttempts) {
          for (const id of outcome.retry) {
            results.set(id, {
              id,
              status: 429,
              body: { error: { code: "TooManyRequests", message: "still throttled" } },
            });
          }
          break;
        }
        pending = pending.filter((r) => outcome.retry.includes(r.id));
        await Promise.all(pending.map((r) => throttled(r, outcome.retryAfterMs)));
        if (pending.length > 0) await sleep(outcome.retryAfterMs);
      }
    }),
  );
  return results;
}

export type MailboxSetting = { userId: string; timeZone: string | null; locale: string | null; error?: string };

/** Time zone (as IANA) and locale of each user; one without a mailbox gets an error entry. */
export async function readMailboxSettings(graph: GraphApi, userIds: string[]): Promise<MailboxSetting[]> {
  const unique = [...new Set(userIds)];
  const requests: SubRequest[] = unique.map((userId, i) => ({
    id: String(i + 1),
    method: "GET",
    url: `/users/${encodeURIComponent(userId)}/mailboxSettings`,
  }));
  const mailboxOf = (r: SubRequest) => unique[Number(r.id) - 1].toLowerCase();
  // The whole call's mailboxes in one budget statement (not one per $batch); retries are charged as they go.
  const charged = new Set(requests.map((r) => r.id));
  await graph.budgets.takeEach("outlookMailbox", requests.map(mailboxOf));
  const byId = await sendBatched(
    graph,
    "readMailboxSettings",
    requests,
    async (batch) => {
      const due = batch.filter((r) => !charged.delete(r.id));
      if (due.length > 0) await graph.budgets.takeEach("outlookMailbox", due.map(mailboxOf));
    },
    // Other replicas reading the same mailbox wait too.
    (r, ms) => graph.budgets.pause("outlookMailbox", ms, mailboxOf(r)),
  );
  const settings: MailboxSetting[] = [];
  for (const [i, userId] of unique.entries()) {
    const sub = byId.get(String(i + 1))!;
    if (sub.status >= 200 && sub.status < 300) {
      const body = (sub.body ?? {}) as { timeZone?: string | null; language?: { locale?: string | null } | null };
      settings.push({ userId, timeZone: toIanaTimeZone(body.timeZone), locale: body.language?.locale ?? null });
      continue;
    }
    const classified = classifyGraphError("readMailboxSettings", sub.status, sub.body);
    // A missing permission is the tenant's problem, not this user's: the whole call fails and says so.
    if (classified.kind === "permissionMissing") throw toMoleculerError(classified, "readMailboxSettings");
    settings.push({ userId, timeZone: null, locale: null, error: classified.message });
  }
  return settings;
}
