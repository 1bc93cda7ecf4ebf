import { defineEntity, p } from "@mikro-orm/core";

/**
 * One Graph bulk call (≤ 100 people) of an m365.sendActivityNotifications call made with an idempotency key:
 * `pending` (claimed by the m365 call sending it until `claimed_until`), `accepted` once Graph answered 202, or
 * `failed` (sent again by a repeat of the call). A repeat answers accepted chunks from here instead of sending them
 * again (feed-sends.ts). Rows older than a day are swept.
 */
export const FeedSendChunk = defineEntity({
  name: "FeedSendChunk",
  tableName: "feed_send_chunk",
  indexes: [{ name: "feed_send_chunk_updated_idx", properties: ["updatedAt"] }],
  properties: {
    idempotencyKey: p.string().length(200).primary(),
    chunk: p.integer().primary(),
    recipientIds: p.json(),
    state: p.string().length(12),
    error: p.text().nullable(),
    /** The m365 call sending it now; with claimedUntil, kept alive while that call waits for the budget. */
    owner: p.uuid().nullable(),
    claimedUntil: p.datetime().nullable(),
    updatedAt: p.datetime(),
  },
});

/**
 * People for whom Hearth's Teams app is known to be installed: Graph said so (installed, or 409 already installed)
 * or Teams told the bot (its install event saves a conversation reference). The bulk activity feed drops people
 * without the app silently, so sendActivityNotifications installs it first for anyone not in here.
 */
export const TeamsAppInstallation = defineEntity({
  name: "TeamsAppInstallation",
  tableName: "teams_app_installation",
  properties: {
    userId: p.uuid().primary(),
    /** "graph" (installed or found installed through Graph) or "bot" (Teams' install event reached the bot). */
    source: p.string().length(12),
    confirmedAt: p.datetime(),
  },
});
