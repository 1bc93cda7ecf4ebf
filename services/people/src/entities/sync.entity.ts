import { defineEntity, p } from "@mikro-orm/core";

/**
 * The directory sync of one tenant as a durable job: when it is due, who holds it (a lease, so a crashed
 * replica's claim runs out), and the deltaLink for the next incremental run.
 */
export const SyncState = defineEntity({
  name: "SyncState",
  tableName: "sync_state",
  properties: {
    tenantId: p.uuid().primary(),
    deltaLink: p.text().nullable(),
    nextSyncAt: p.datetime(),
    claimedBy: p.string().length(200).nullable(),
    claimedUntil: p.datetime().nullable(),
    /** Why the last read of mailbox settings failed (null once one succeeds). */
    mailboxError: p.text().nullable(),
  },
});

/** One sync run and its progress, written after every page with that page's changes. */
export const SyncRun = defineEntity({
  name: "SyncRun",
  tableName: "sync_run",
  indexes: [{ name: "sync_run_tenant_started_idx", properties: ["tenantId", "startedAt"] }],
  properties: {
    id: p.uuid().primary(),
    tenantId: p.uuid(),
    kind: p.string().length(16),
    trigger: p.string().length(16),
    status: p.string().length(16),
    /** Where to continue: the nextLink of the last committed page (null: start, or from the stored deltaLink). */
    nextLink: p.text().nullable(),
    startedAt: p.datetime(),
    finishedAt: p.datetime().nullable(),
    pages: p.integer().default(0),
    seen: p.integer().default(0),
    created: p.integer().default(0),
    updated: p.integer().default(0),
    left: p.integer().default(0),
    error: p.text().nullable(),
  },
});
