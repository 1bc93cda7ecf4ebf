import path from "node:path";
import { defineServiceDatabase } from "@hearth/platform";
import { defineEntity, p } from "@mikro-orm/core";
import { ConversationReference } from "./entities/conversation-reference.entity.ts";
import { FeedSendChunk, TeamsAppInstallation } from "./entities/feed-send.entity.ts";
import { TeamCreation } from "./entities/team-creation.entity.ts";

/**
 * One token bucket per (tenant, Graph limit class, scope). Scope is "" for limits per app and tenant, the
 * mailbox's user id for Outlook's per-mailbox limit. Rows are read and written with SQL only (budget.ts).
 */
export const Budget = defineEntity({
  name: "Budget",
  tableName: "budget",
  properties: {
    tenant: p.string().length(64).primary(),
    limitClass: p.string().length(40).primary(),
    scope: p.string().length(64).primary(),
    tokens: p.double(),
    capacity: p.double(),
    refillPerSecond: p.double(),
    /** The moment `tokens` was last brought up to date; the refill since then is computed in SQL. */
    refilledAt: p.datetime(),
    /** Set from a throttled answer's Retry-After: no replica draws on the bucket before it. */
    pausedUntil: p.datetime().nullable(),
    /** Window classes only (BudgetStore.takeSlotNow): the last sends, each {id, at, bound?} in database epoch ms. */
    sends: p.json<Array<{ id: string; at: number; bound?: number | null }>>().default("[]"),
  },
});

export const database = defineServiceDatabase({
  schema: "m365",
  entities: [Budget, ConversationReference, TeamCreation, FeedSendChunk, TeamsAppInstallation],
  migrationsDir: path.join(import.meta.dirname, "migrations"),
});
