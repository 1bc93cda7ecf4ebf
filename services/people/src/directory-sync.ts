// Directory sync from Microsoft 365 as a durable job: claimed with a lease (several replicas, one runner), every
// page committed with its progress and resume point, so a crash resumes from the last committed page.
import {
  fromChangeRows,
  type ResultOf,
  type readDirectoryChanges,
  type TDirectoryChange,
  type TSyncRun,
} from "@hearth/contracts";
import { configOf, type DatabaseThis } from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import {
  type ApplyContext,
  applyDirectoryChange,
  applyToday,
  type EmployeeEvent,
  type EmployeeState,
  hiredEvent,
  needsMailboxSettings,
  removeEmployee,
} from "./domain/employee.ts";
import {
  type EmployeeRow,
  loadEmployees,
  markSeen,
  rowToState,
  saveEmployee,
  saveEmployees,
  sql,
  T,
} from "./employee-store.ts";
import { type MailboxReader, mailboxSettingsDue, recordNow, recordOrHold } from "./mailbox-settings.ts";

export type PeopleThis = DatabaseThis & {
  settings: { tenantId: string; syncIntervalMinutes: number; syncLeaseMs: number; syncPageSize: number };
  /** Reads the mailbox settings of new and changed people after their pages are stored (absent in some tools). */
  mailboxReader?: MailboxReader;
  /** Pages are being stored by this replica: its mailbox reader waits (both want the same CPU and rows). */
  storingPages?: boolean;
};

type RunRow = {
  id: string;
  kind: "full" | "incremental";
  trigger: "schedule" | "manual";
  status: "running" | "interrupted" | "completed";
  next_link: string | null;
  started_at: string | Date;
  finished_at: string | Date | null;
  pages: number;
  seen: number;
  created: number;
  updated: number;
  left: number;
  error: string | null;
};

class LostClaimError extends Error {}

export function today(): string {
  return new Date().toISOString().slice(0, 10);
}

const iso = (v: string | Date | null) => (v === null ? null : new Date(v).toISOString());

export function runView(r: RunRow): TSyncRun {
  return {
    id: r.id,
    kind: r.kind,
    trigger: r.trigger,
    status: r.status,
    startedAt: iso(r.started_at)!,
    finishedAt: iso(r.finished_at),
    pages: r.pages,
    seen: r.seen,
    created: r.created,
    updated: r.updated,
    left: r.left,
    error: r.error,
  };
}

export async function ensureSyncState(service: PeopleThis) {
  await sql(
    service.em(),
    `insert into "people".sync_state (tenant_id, next_sync_at) values (?, now()) on conflict do nothing`,
    [service.settings.tenantId],
  );
}

export async function syncStatus(service: PeopleThis) {
  const em = service.em();
  const tenantId = service.settings.tenantId;
  // One statement, so one snapshot: a run finishing meanwhile is not shown both running and completed.
  const runs = await sql<RunRow & { slot: "current" | "last" }>(
    em,
    `(select *, 'current' as slot from "people".sync_run where tenant_id = ? and status <> 'completed'
      order by started_at desc limit 1)
     union all
     (select *, 'last' as slot from "people".sync_run where tenant_id = ? and status = 'completed'
      order by started_at desc limit 1)`,
    [tenantId, tenantId],
  );
  const current = runs.find((r) => r.slot === "current");
  const last = runs.find((r) => r.slot === "last");
  // Read after the runs: a completed run's transaction also set the next sync time.
  const [state] = await sql(em, `select * from "people".sync_state where tenant_id = ?`, [tenantId]);
  return {
    current: current ? runView(current) : null,
    last: last ? runView(last) : null,
    nextSyncAt: state ? iso(state.next_sync_at) : null,
    hasDeltaLink: !!state?.delta_link,
    mailboxSettings: { due: await mailboxSettingsDue(service), error: state?.mailbox_error ?? null },
  };
}

/**
 * Claims the tenant's sync (due, or `force` for on-demand runs) unless another replica holds it. Returns the
 * claim's owner, or undefined.
 */
export async function claimSync(service: PeopleThis, force: boolean): Promise<string | undefined> {
  await ensureSyncState(service);
  const owner = `${service.broker.nodeID}:${crypto.randomUUID()}`;
  const rows = await service.em().transactional((em) =>
    sql(
      em,
      `with s as (
         select tenant_id from "people".sync_state
         where tenant_id = ? and (claimed_until is null or claimed_until < now()) ${force ? "" : "and next_sync_at <= now()"}
         for update skip locked
       )
       update "people".sync_state st set claimed_by = ?, claimed_until = now() + ? * interval '1 millisecond'
       from s where st.tenant_id = s.tenant_id returning st.tenant_id`,
      [service.settings.tenantId, owner, service.settings.syncLeaseMs],
    ),
  );
  return rows.length > 0 ? owner : undefined;
}

async function releaseClaim(service: PeopleThis, owner: string, nextInMinutes: number) {
  await sql(
    service.em(),
    `update "people".sync_state set claimed_by = null, claimed_until = null,
       next_sync_at = now() + ? * interval '1 minute' where tenant_id = ? and claimed_by = ?`,
    [nextInMinutes, service.settings.tenantId, owner],
  );
}

/** Within a page's transaction: still ours? Extends the lease, or aborts the page if another replica took over. */
async function fence(service: PeopleThis, em: EntityManager, owner: string) {
  const rows = await sql(
    em,
    `update "people".sync_state set claimed_until = now() + ? * interval '1 millisecond'
     where tenant_id = ? and claimed_by = ? returning tenant_id`,
    [service.settings.syncLeaseMs, service.settings.tenantId, owner],
  );
  if (rows.length === 0) throw new LostClaimError("the directory sync was taken over by another replica");
}

/** The unfinished run to resume, or a new one (full without a deltaLink, incremental with one). */
export async function openRun(service: PeopleThis, trigger: "schedule" | "manual", full = false): Promise<RunRow> {
  const tenantId = service.settings.tenantId;
  return service.transaction(async (em) => {
    const [unfinished] = await sql<RunRow>(
      em,
      `select * from "people".sync_run where tenant_id = ? and status <> 'completed' order by started_at desc limit 1`,
      [tenantId],
    );
    if (unfinished) {
      const [resumed] = await sql<RunRow>(
        em,
        `update "people".sync_run set status = 'running', error = null where id = ? returning *`,
        [unfinished.id],
      );
      return resumed!;
    }
    const [state] = await sql(em, `select delta_link from "people".sync_state where tenant_id = ?`, [tenantId]);
    const [run] = await sql<RunRow>(
      em,
      `insert into "people".sync_run (id, tenant_id, kind, trigger, status, started_at)
       values (?, ?, ?, ?, 'running', now()) returning *`,
      [crypto.randomUUID(), tenantId, state?.delta_link && !full ? "incremental" : "full", trigger],
    );
    return run!;
  });
}

/** Runs the claimed sync to the end; on failure the run stays resumable from its last committed page. */
export async function runClaimedSync(service: PeopleThis, owner: string, run: RunRow): Promise<TSyncRun> {
  try {
    const finished = await syncPages(service, owner, run);
    await releaseClaim(service, owner, service.settings.syncIntervalMinutes);
    return finished;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await sql(service.em(), `update "people".sync_run set status = 'interrupted', error = ? where id = ?`, [
      message.slice(0, 2000),
      run.id,
    ]).catch(() => undefined);
    // Try again soon, not after a whole interval.
    await releaseClaim(service, owner, Math.min(1, service.settings.syncIntervalMinutes)).catch(() => undefined);
    throw error;
  }
}

type DirectoryPage = { changes: TDirectoryChange[]; nextLink?: string; deltaLink?: string; resyncRequired: boolean };

/** Pages read ahead of the one being stored: reading is sequential (each page names the next), storing is not. */
const READ_AHEAD = 3;
/** Moleculer's errors for a call whose node is gone or did not answer. */
const REPLICA_GONE = new Set([
  "ServiceNotAvailableError",
  "ServiceNotFoundError",
  "RequestRejectedError",
  "RequestTimeoutError",
]);
/** Page transactions at once on PostgreSQL (measured on 2 cores: 2 stores 100,000 people ~1.5x faster than 1; 3 no faster). */
const STORE_IN_PARALLEL = 2;

async function syncPages(service: PeopleThis, owner: string, run: RunRow): Promise<TSyncRun> {
  const tenantId = service.settings.tenantId;
  const [state] = await sql(service.em(), `select delta_link from "people".sync_state where tenant_id = ?`, [tenantId]);
  let kind = run.kind;
  let link: string | undefined =
    run.next_link ?? (kind === "incremental" ? (state?.delta_link ?? undefined) : undefined);
  // Pages are read ahead while earlier ones are stored. The resume point stays the last committed page: pages read
  // and never stored are read again after a crash.
  const ahead: Array<Promise<DirectoryPage>> = [];
  let toRead: { link: string | undefined } | null = { link };
  let reading = false;
  let stopped = false;
  // The m365 replica that answered a page (it says which) has fetched the next one already (its read-ahead): ask it
  // again, once and without retries; any replica (with the usual retries) when it is gone or does not answer.
  let reader: string | undefined;
  const read = async (from: string | undefined): Promise<DirectoryPage> => {
    const params = { ...(from ? { link: from } : {}), pageSize: service.settings.syncPageSize };
    const ask = async (nodeID: string | undefined) => {
      const answer = (await service.broker.call(
        "m365.readDirectoryChanges",
        params,
        nodeID ? { nodeID, retries: 0 } : {},
      )) as ResultOf<typeof readDirectoryChanges>;
      reader = answer.readBy;
      return { ...answer, changes: fromChangeRows(answer.changes) };
    };
    if (!reader) return ask(undefined);
    return ask(reader).catch((error: Error) => {
      // Graph's own errors are the answer; only a replica gone (or not answering) is asked around.
      if (!REPLICA_GONE.has(error.name)) throw error;
      service.logger.warn("The m365 replica that read the last page did not answer; asking any", {
        node: reader,
        error: error.message,
      });
      reader = undefined;
      return ask(undefined);
    });
  };
  const pump = () => {
    if (reading || stopped || !toRead || ahead.length >= READ_AHEAD) return;
    const from = toRead.link;
    toRead = null;
    reading = true;
    const page = read(from);
    ahead.push(page);
    page.then(
      (p) => {
        reading = false;
        if (p.nextLink && !p.resyncRequired) toRead = { link: p.nextLink };
        pump();
      },
      // Awaited in turn by the store loop, which fails the run.
      () => {
        reading = false;
      },
    );
  };
  // Pages with no one in common are stored by up to STORE_IN_PARALLEL transactions at once (PostgreSQL works on one
  // while this process prepares the next); each commits only after the page before it, so the resume point (the
  // nextLink of the last committed page) never skips an uncommitted one. PGlite has one connection: one at a time.
  const parallel = configOf(service.broker).database.kind === "embedded" ? 1 : STORE_IN_PARALLEL;
  let inFlight: Array<{ ids: Set<string>; stored: Promise<RunRow | undefined> }> = [];
  let previous: Promise<unknown> = Promise.resolve();
  service.storingPages = true;
  try {
    for (;;) {
      pump();
      const next = ahead.shift();
      if (!next) throw new Error("the directory read stopped without an answer");
      const result = await next;
      pump();
      if (result.resyncRequired) {
        if (!link) throw new Error("m365 asked for a resync of a read that started without a link");
        await Promise.all(inFlight.map((f) => f.stored));
        inFlight = [];
        // The delta token expired (410): read everything again; whoever is not seen has left.
        await service.transaction(async (em) => {
          await fence(service, em, owner);
          await sql(em, `update "people".sync_run set kind = 'full', next_link = null where id = ?`, [run.id]);
          await sql(em, `update "people".sync_state set delta_link = null where tenant_id = ?`, [tenantId]);
        });
        kind = "full";
        link = undefined;
        toRead = { link: undefined };
        continue;
      }
      const ids = new Set(result.changes.map((c) => (c.kind === "upsert" ? c.user.id : c.id)));
      while (inFlight.length >= parallel || inFlight.some((f) => [...ids].some((id) => f.ids.has(id)))) {
        await inFlight.shift()!.stored;
      }
      const stored = storePage(service, owner, run, kind, result, previous);
      // Awaited below or by the page after it; a failure fails the run there.
      stored.catch(() => undefined);
      previous = stored;
      inFlight.push({ ids, stored });
      if (result.deltaLink) {
        const done = await stored;
        if (!done) throw new Error("the last page did not complete the run");
        return runView(done);
      }
      if (!result.nextLink) throw new Error("m365 returned a delta page with neither nextLink nor deltaLink");
      link = result.nextLink;
    }
  } finally {
    stopped = true;
    await Promise.allSettled(inFlight.map((f) => f.stored));
    service.storingPages = false;
    service.mailboxReader?.wake();
  }
}

/** One page in one transaction with the run's progress; the run row when this page completed it. */
async function storePage(
  service: PeopleThis,
  owner: string,
  run: RunRow,
  kind: RunRow["kind"],
  result: DirectoryPage,
  /** The page before this one: this one commits only after it (and not at all if it failed). */
  before: Promise<unknown>,
): Promise<RunRow | undefined> {
  const tenantId = service.settings.tenantId;
  const ctx: ApplyContext = { tenantId, today: today(), source: "graph" };
  const ids = [...new Set(result.changes.map((c) => (c.kind === "upsert" ? c.user.id : c.id)))];
  return service.transaction(async (em) => {
    // No wait for the WAL flush: a commit lost to a database crash loses its resume point with it, and the
    // pages are read again from the one before.
    await sql(em, "set local synchronous_commit = off");
    const alreadyDue = new Set<string>();
    const hireHeld = new Set<string>();
    const current = await loadEmployees(em, tenantId, ids, { lock: true, mailboxDue: alreadyDue, hireHeld });
    const stored = new Set(current.keys());
    const counts = { created: 0, updated: 0, left: 0, seen: 0 };
    const upserted = new Set<string>();
    // The last state of each person changed on this page, written in one statement after the loop.
    const toSave = new Map<string, EmployeeState>();
    // New and changed people have their mailbox settings read next; their events wait for them on their row.
    const due = new Set<string>();
    const held = new Map<string, EmployeeEvent[]>();
    const now: EmployeeEvent[] = [];
    for (const change of result.changes) {
      const id = change.kind === "upsert" ? change.user.id : change.id;
      const before = current.get(id);
      const outcome = applyDirectoryChange(before, change, ctx);
      if (change.kind === "upsert") upserted.add(id);
      if (outcome.kind === "ignored" || !outcome.next) continue;
      current.set(id, outcome.next);
      if (outcome.kind === "created") counts.created++;
      if (outcome.kind === "updated" && outcome.events.some((e) => e.name === "employee.updated")) counts.updated++;
      if (outcome.events.some((e) => e.name === "employee.left")) counts.left++;
      if (outcome.kind !== "unchanged") toSave.set(id, outcome.next);
      if (needsMailboxSettings(change, outcome)) due.add(id);
      if (due.has(id) || alreadyDue.has(id)) {
        // A hire held as a mark is the person's first held event: it becomes the event before others join it.
        const earlier = held.get(id) ?? (hireHeld.delete(id) ? [hiredEvent(before!)] : []);
        held.set(id, [...earlier, ...outcome.events]);
      } else now.push(...outcome.events);
    }
    // A hire with nothing held before or after it is kept as a mark on the row (see MailboxMarks): a first sync's
    // 100,000 employee.hired would otherwise be copies of the rows beside them.
    const hireMarks = new Set<string>();
    for (const [id, events] of held) {
      if (events.length === 1 && events[0]!.name === "employee.hired" && !alreadyDue.has(id)) {
        hireMarks.add(id);
        held.delete(id);
      }
    }
    // Those not stored when looked up (under their locks) are inserted without a conflict check per row.
    const marks = { due, held, hireHeld: hireMarks };
    const saving = [...toSave.values()];
    await saveEmployees(
      em,
      saving.filter((s) => stored.has(s.objectId)),
      run.id,
      marks,
    );
    await saveEmployees(
      em,
      saving.filter((s) => !stored.has(s.objectId)),
      run.id,
      marks,
      { unstored: true },
    );
    await recordNow(service, em, now);
    counts.seen = upserted.size;
    // Those just saved carry the run already; the rest were re-sent unchanged.
    await markSeen(
      em,
      tenantId,
      [...upserted].filter((id) => !toSave.has(id)),
      run.id,
    );
    await before;
    // Still ours? (Here, not first: the lock on the sync state is then held only while the page commits.)
    await fence(service, em, owner);
    if (result.deltaLink) {
      if (kind === "full") counts.left += await markUnseenAsLeft(service, em, run.id, ctx);
      counts.left += await applyLeaveDates(service, em, ctx);
      await sql(
        em,
        `update "people".sync_state set delta_link = ?, next_sync_at = now() + ? * interval '1 minute'
         where tenant_id = ?`,
        [result.deltaLink, service.settings.syncIntervalMinutes, tenantId],
      );
    }
    const [updatedRun] = await sql<RunRow>(
      em,
      `update "people".sync_run set pages = pages + 1, seen = seen + ?, created = created + ?, updated = updated + ?,
         "left" = "left" + ?, next_link = ?, status = ?, finished_at = ${result.deltaLink ? "now()" : "null"}
       where id = ? returning *`,
      [
        counts.seen,
        counts.created,
        counts.updated,
        counts.left,
        result.nextLink ?? null,
        result.deltaLink ? "completed" : "running",
        run.id,
      ],
    );
    return result.deltaLink ? updatedRun : undefined;
  });
}

/** After a full read: people from Microsoft 365 it did not report are no longer in the directory. */
async function markUnseenAsLeft(service: PeopleThis, em: EntityManager, runId: string, ctx: ApplyContext) {
  const rows = await sql<EmployeeRow>(
    em,
    `select * from ${T} where tenant_id = ? and source = 'graph' and status = 'active'
       and last_seen_run is distinct from ? for update`,
    [ctx.tenantId, runId],
  );
  let left = 0;
  for (const row of rows) {
    const before = rowToState(row);
    const outcome = removeEmployee(before, ctx);
    if (outcome.next) await saveEmployee(em, outcome.next);
    await recordOrHold(service, em, ctx.tenantId, outcome.events, before);
    if (outcome.events.some((e) => e.name === "employee.left")) left++;
  }
  return left;
}

/** Leave dates that have arrived turn active people into leavers. */
export async function applyLeaveDates(service: DatabaseThis, em: EntityManager, ctx: Omit<ApplyContext, "source">) {
  const rows = await sql<EmployeeRow>(
    em,
    `select * from ${T} where tenant_id = ? and status = 'active' and leave_date <= ? for update`,
    [ctx.tenantId, ctx.today],
  );
  let left = 0;
  for (const row of rows) {
    const before = rowToState(row);
    const outcome = applyToday(before, ctx);
    if (outcome.next) await saveEmployee(em, outcome.next);
    await recordOrHold(service, em, ctx.tenantId, outcome.events, before);
    if (outcome.events.some((e) => e.name === "employee.left")) left++;
  }
  return left;
}
