// Mailbox settings (time zone, locale) are read per person through m365, apart from the directory's delta read:
// a delta page of 999 people is stored at once, and the settings of its new and changed people follow through
// this durable queue (employees.mailbox_due). The people's domain events are held on their row until then, so
// every employee.hired carries the time zone. Replicas share the queue through leases; a crash loses nothing
// (a lease runs out and the people are read again).
import { type EventContract, employeeHired, employeeLeft, employeeUpdated } from "@hearth/contracts";
import { type DatabaseThis, executeBound } from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import {
  type EmployeeEvent,
  type EmployeeState,
  hiredEvent,
  type MailboxSettings,
  settleMailboxSettings,
} from "./domain/employee.ts";
import { heldEventsOf, loadEmployeeRows, rowToState, saveEmployees, sql, T } from "./employee-store.ts";

const CONTRACTS: Record<EmployeeEvent["name"], EventContract> = {
  "employee.hired": employeeHired,
  "employee.updated": employeeUpdated,
  "employee.left": employeeLeft,
};

/** People per m365.readMailboxSettings call (its limit), and calls in flight (m365 paces them by its budgets). */
const PER_CALL = 100;
const IN_FLIGHT = 8;
/** How long a reader holds people before another replica may take them over. */
const LEASE_MS = 120_000;
/** After this many people settled in one go (a first sync), the table is vacuumed: see vacuum(). */
const VACUUM_AFTER = 10_000;

export type MailboxReader = { wake(): void; stop(): Promise<void>; lastError(): string | null };
type MailboxThis = DatabaseThis & { settings: { tenantId: string } };

/** Records events now, in order, in this transaction's outbox. */
export function recordNow(service: DatabaseThis, em: EntityManager, events: readonly EmployeeEvent[]) {
  return service.recordEvents(
    em,
    events.map((e) => ({ contract: CONTRACTS[e.name], payload: e.payload })),
  );
}

/**
 * Records one person's events, unless their mailbox settings are still due: then the events join those held on
 * their row (in order), to go out when the settings have been read. `before`: the person as they were before
 * these events (a hire held as a mark on their row is that person's employee.hired).
 */
export async function recordOrHold(
  service: DatabaseThis,
  em: EntityManager,
  tenantId: string,
  events: readonly EmployeeEvent[],
  before: EmployeeState | undefined,
) {
  if (events.length === 0) return;
  const objectId = events[0]!.payload.objectId;
  if (events.some((e) => e.payload.objectId !== objectId)) throw new Error("recordOrHold takes one person's events");
  const [row] = await executeBound<{ mailbox_due: boolean; hire_held: boolean }>(
    em,
    `select mailbox_due, hire_held from ${T} where tenant_id = $1 and object_id = $2::uuid`,
    [tenantId, objectId],
  );
  if (row?.mailbox_due) {
    if (row.hire_held && !before) throw new Error(`the held hire of ${objectId} needs the person as they were`);
    const held = row.hire_held ? [hiredEvent(before!), ...events] : events;
    await executeBound(
      em,
      `update ${T} set held_events = coalesce(held_events, '[]'::jsonb) || $3::jsonb, hire_held = false
       where tenant_id = $1 and object_id = $2::uuid`,
      [tenantId, objectId, JSON.stringify(held)],
    );
    return;
  }
  await recordNow(service, em, events);
}

/** People whose mailbox settings are still to be read. */
export async function mailboxSettingsDue(service: MailboxThis): Promise<number> {
  const [row] = await sql<{ n: number }>(
    service.em(),
    `select count(*)::int as n from ${T} where tenant_id = ? and mailbox_due`,
    [service.settings.tenantId],
  );
  return row?.n ?? 0;
}

type Claimed = { object_id: string; mailbox_version: number };

/** Takes up to `limit` due people nobody else is reading, with a lease. */
async function claim(service: MailboxThis, limit: number): Promise<Claimed[]> {
  return service.transaction((em) =>
    sql<Claimed>(
      em,
      `update ${T} e set mailbox_claimed_until = now() + ? * interval '1 millisecond'
       from (select tenant_id, object_id from ${T} where tenant_id = ? and mailbox_due
               and (mailbox_claimed_until is null or mailbox_claimed_until < now())
             limit ? for update skip locked) c
       where e.tenant_id = c.tenant_id and e.object_id = c.object_id returning e.object_id, e.mailbox_version`,
      [LEASE_MS, service.settings.tenantId, limit],
    ),
  );
}

/**
 * Stores what was read for these people and releases their held events; a person marked due again since the
 * claim (a newer directory change) is left for the next read.
 */
async function settle(service: MailboxThis, claimed: Claimed[], read: Map<string, MailboxSettings | undefined>) {
  const tenantId = service.settings.tenantId;
  const version = new Map(claimed.map((c) => [c.object_id, c.mailbox_version]));
  await service.transaction(async (em) => {
    // The same per-person locks the sync and the import take, so a page being stored does not interleave; the rows
    // by the unique index (a condition on mailbox_due lets the planner scan the whole queue instead: 0.5 s a call
    // while a first sync's 100,000 people are due).
    const current = (await loadEmployeeRows(em, tenantId, [...version.keys()], true)).filter(
      (r) => r.mailbox_due && r.mailbox_version === version.get(r.object_id),
    );
    const events: EmployeeEvent[] = [];
    const states = current.map((row) => {
      const settled = settleMailboxSettings(
        rowToState(row),
        heldEventsOf(row),
        read.get(row.object_id),
        row.mailbox_first,
      );
      events.push(...settled.events);
      return settled.next;
    });
    await saveEmployees(em, states, undefined, "settled");
    await recordNow(service, em, events);
  });
}

/**
 * This replica's reader: works through the due people (IN_FLIGHT calls at once) whenever woken, and every
 * `pollMs` for people left by a replica that stopped. A failing call (m365 away, a permission missing) leaves its
 * people due; the error is kept for the status until a read succeeds.
 */
export function startMailboxReader(
  service: MailboxThis,
  pollMs: number,
  /** While true (this replica is storing directory pages), no new reads start: the directory comes first. */
  paused: () => boolean = () => false,
  vacuumAfter = VACUUM_AFTER,
): MailboxReader {
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let lastError: string | null = null;
  let settledSinceVacuum = 0;
  /** This drain is a bulk read (it vacuumed on the way): it vacuums once more at its end. */
  let bulk = false;
  // Kept with the sync state, so the status shows it whichever replica answers.
  const reportError = async (message: string | null) => {
    lastError = message;
    await sql(service.em(), `update "people".sync_state set mailbox_error = ? where tenant_id = ?`, [
      message?.slice(0, 2000) ?? null,
      service.settings.tenantId,
    ]).catch(() => undefined);
  };
  const readOnce = async (): Promise<boolean> => {
    const claimed = await claim(service, PER_CALL);
    if (claimed.length === 0) return false;
    try {
      const answer = (await service.broker.call("m365.readMailboxSettings", {
        userIds: claimed.map((c) => c.object_id),
      })) as { settings: Array<{ userId: string; timeZone: string | null; locale: string | null; error?: string }> };
      // A person without a readable mailbox is settled without settings (their events go out as they are).
      const read = new Map<string, MailboxSettings | undefined>();
      for (const s of answer.settings) read.set(s.userId, s.error ? undefined : s);
      await settle(service, claimed, read);
      settledSinceVacuum += claimed.length;
      // This lane vacuums while the others go on (see vacuum()).
      if (settledSinceVacuum >= vacuumAfter) {
        bulk = true;
        await vacuum();
      }
      if (lastError !== null) await reportError(null);
      return true;
    } catch (error) {
      await reportError(error instanceof Error ? error.message : String(error));
      service.logger.warn("Reading mailbox settings failed; the people stay due", {
        people: claimed.length,
        error: lastError,
      });
      // Let them be taken again soon rather than after the whole lease.
      await executeBound(
        service.em(),
        `update ${T} set mailbox_claimed_until = now() + interval '5 seconds'
         where tenant_id = $1 and object_id = any($2::uuid[])`,
        [service.settings.tenantId, claimed.map((c) => c.object_id)],
      ).catch(() => undefined);
      return false;
    }
  };
  const drain = async () => {
    bulk = false;
    do {
      again = false;
      const lanes = Array.from({ length: IN_FLIGHT }, async () => {
        while (!stopped && !paused() && (await readOnce())) {
          // next batch
        }
      });
      await Promise.all(lanes);
    } while (again && !stopped && !paused() && lastError === null);
    if (bulk && settledSinceVacuum > 0 && !stopped && lastError === null) await vacuum();
  };
  // A bulk read (a first sync) leaves a dead row version per settled person in every index, and the queue's
  // partial index becomes mostly dead entries that each claim walks through: 0.15 s a claim at 100,000 people,
  // the next incremental sync's few people waited seconds. So, as after any bulk load, the table is vacuumed
  // every `vacuumAfter` people and once at the end of such a read, rather than whenever autovacuum comes round;
  // the small reads of incremental syncs do not vacuum at their end.
  const vacuum = async () => {
    settledSinceVacuum = 0;
    const started = performance.now();
    await sql(service.em(), `vacuum (analyze) ${T}`);
    service.logger.info("Vacuumed the directory during a bulk read of mailbox settings", {
      ms: Math.round(performance.now() - started),
    });
  };
  const wake = () => {
    if (stopped || paused()) return;
    if (running) {
      again = true;
      return;
    }
    running = drain()
      .catch((error: Error) => {
        void reportError(error.message);
        service.logger.warn("The mailbox settings reader stopped on an error", { error: error.message });
      })
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(wake, pollMs);
  timer.unref();
  setImmediate(wake);
  return {
    wake,
    lastError: () => lastError,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
