// Mail, Teams app installation and the activity feed (shared/reference/m365.md §1–2). Budgets are charged by the
// client middleware from each request's path (domain/limit-classes.ts): sendMail per sender mailbox, installedApps
// and the bulk feed per app and tenant.
import { ResponseType } from "@microsoft/microsoft-graph-client";
import type { GraphApi } from "./graph-client.ts";
import { failure, send } from "./graph-operations.ts";

/** Graph allows 100 recipients per bulk activity notification. */
export const BULK_RECIPIENTS = 100;
/**
 * Bulk calls of one request in flight (or waiting for the budget) at once. The budget serves its callers in turn, so a
 * request's chunks queue together and its answer comes when they have gone: with 4 of a 500-person request's 5 at
 * once, the fifth queued behind every chunk of later requests and the answer came ~0.5 s late (notifications' next
 * claim waits for it: the feed ran dry). 10 chunks: a request of up to 1,000 people.
 */
export const BULK_PARALLELISM = 10;

export async function sendMail(
  graph: GraphApi,
  mail: { senderId: string; to: string[]; cc?: string[]; subject: string; html: string },
): Promise<void> {
  const recipients = (addresses: string[] = []) => addresses.map((address) => ({ emailAddress: { address } }));
  const response = await send(() =>
    graph.client
      .api(`/users/${encodeURIComponent(mail.senderId)}/sendMail`)
      .responseType(ResponseType.RAW)
      .post({
        message: {
          subject: mail.subject,
          body: { contentType: "HTML", content: mail.html },
          toRecipients: recipients(mail.to),
          ...(mail.cc?.length ? { ccRecipients: recipients(mail.cc) } : {}),
        },
        saveToSentItems: false,
      }),
  );
  if (response.status !== 202) throw await failure("sendMail", response);
}

export async function installAppForUser(
  graph: GraphApi,
  userId: string,
  teamsAppId: string,
): Promise<"installed" | "alreadyInstalled"> {
  const response = await send(() =>
    graph.client
      .api(`/users/${encodeURIComponent(userId)}/teamwork/installedApps`)
      .responseType(ResponseType.RAW)
      .post({ "teamsApp@odata.bind": `https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/${teamsAppId}` }),
  );
  if (response.status === 201) return "installed";
  // 409: already there — the goal is reached, which is what makes retries of this action safe.
  if (response.status === 409) {
    await response.body?.cancel().catch(() => undefined);
    return "alreadyInstalled";
  }
  throw await failure("installAppForUser", response);
}

export type Activity = {
  activityType: string;
  previewText: string;
  topic: { source: "text" | "entityUrl"; value: string; webUrl?: string };
  templateParameters?: Array<{ name: string; value: string }>;
};

export type RecipientResult = { userId: string; status: "accepted" | "failed"; error?: string };

/**
 * The activity feed for many people: chunks of 100, a few bulk calls in flight, each waiting for the
 * teamsBulkActivity budget (2 calls per second per app and tenant at Microsoft's published rate). A chunk that
 * fails for good marks its recipients failed and the others go on; a missing permission fails the whole call.
 */
export async function sendActivityNotifications(
  graph: GraphApi,
  recipientIds: string[],
  activity: Activity,
): Promise<RecipientResult[]> {
  const unique = [...new Set(recipientIds)];
  const chunks: string[][] = [];
  for (let i = 0; i < unique.length; i += BULK_RECIPIENTS) chunks.push(unique.slice(i, i + BULK_RECIPIENTS));
  const results = new Map<string, RecipientResult>();
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      const outcome = await sendBulk(graph, chunk, activity).then(
        () => ({ status: "accepted" as const }),
        (error: Error & { code?: string | number; type?: string }) => {
          if (error.type === "M365_PERMISSION_MISSING") throw error;
          return { status: "failed" as const, error: error.message };
        },
      );
      for (const userId of chunk) results.set(userId, { userId, ...outcome });
    }
  };
  await Promise.all(Array.from({ length: Math.min(BULK_PARALLELISM, chunks.length) }, worker));
  return unique.map((userId) => results.get(userId)!);
}

export async function sendBulk(graph: GraphApi, userIds: string[], activity: Activity): Promise<void> {
  const response = await send(() =>
    graph.client
      .api("/teamwork/sendActivityNotificationToRecipients")
      .responseType(ResponseType.RAW)
      .post({
        topic: activity.topic,
        activityType: activity.activityType,
        previewText: { content: activity.previewText },
        templateParameters: activity.templateParameters ?? [],
        recipients: userIds.map((userId) => ({
          "@odata.type": "microsoft.graph.aadUserNotificationRecipient",
          userId,
        })),
      }),
  );
  if (response.status === 202 || response.status === 204) {
    await response.body?.cancel().catch(() => undefined);
    return;
  }
  throw await failure("sendActivityNotifications", response);
}
