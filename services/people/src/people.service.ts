// The employee directory: thin handlers over the domain (src/domain), the store and the sync job.
import {
  employeeErased,
  eraseEmployee,
  exportMyData,
  getDirectorySync,
  getEmployee,
  getMyProfile,
  getOrgChart,
  importDirectoryCsv,
  importDirectoryCsvInternal,
  listEmployees,
  runDirectorySync,
  startDirectorySync,
  type TEmployee,
} from "@hearth/contracts";
import {
  action,
  BadRequestError,
  type Caller,
  configOf,
  DEV_TENANT_ID,
  databaseMixin,
  ForbiddenError,
  hasAnyRole,
  NotFoundError,
  UnauthorizedError,
} from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import type moleculer from "moleculer";
import { importCsv } from "./csv-import.ts";
import { database } from "./database.ts";
import { demoDirectory } from "./demo-directory.ts";
import {
  applyLeaveDates,
  claimSync,
  ensureSyncState,
  openRun,
  type PeopleThis,
  runClaimedSync,
  syncStatus,
  today,
} from "./directory-sync.ts";
import { applyProfile } from "./domain/employee.ts";
import {
  directoryPageQuery,
  type EmployeeRow,
  findEmployee,
  heldEventsOf,
  loadEmployees,
  saveEmployee,
  sql,
  T,
} from "./employee-store.ts";
import { recordOrHold, startMailboxReader } from "./mailbox-settings.ts";

const PRIVILEGED = ["HR", "Admin"] as const;

type Service = PeopleThis & {
  syncTimer?: NodeJS.Timeout;
  syncRunning?: Promise<unknown>;
  runSync(trigger: "schedule" | "manual", full?: boolean): Promise<unknown>;
  applyLeaveDates(): Promise<void>;
};

function tenantOf(service: PeopleThis, caller: Caller | undefined) {
  return caller?.tenantId ?? service.settings.tenantId;
}

function privileged(caller: Caller | undefined) {
  // A service acting on its own (no caller) is trusted.
  return !caller || hasAnyRole(caller, PRIVILEGED);
}

/** The basics for everyone; dates, state and source for HR, Admin and the person themself. */
export function employeeView(row: EmployeeRow, full: boolean): TEmployee {
  const basics: TEmployee = {
    id: row.object_id,
    displayName: row.display_name,
    givenName: row.given_name,
    surname: row.surname,
    mail: row.mail,
    upn: row.upn,
    department: row.department,
    jobTitle: row.job_title,
    office: row.office,
    country: row.country,
    timeZone: row.time_zone,
    preferredLanguage: row.preferred_language,
    managerId: row.manager_id,
  };
  if (!full) return basics;
  return {
    ...basics,
    hireDate: row.hire_date,
    leaveDate: row.leave_date,
    enabled: row.enabled,
    status: row.status,
    source: row.source,
  };
}

/** Someone the caller may look at: their own tenant; leavers only for HR and Admin (and themself). */
async function visibleEmployee(service: PeopleThis, caller: Caller | undefined, objectId: string) {
  const row = await findEmployee(service.em(), tenantOf(service, caller), objectId);
  const self = caller?.objectId === objectId;
  if (!row || (row.status === "left" && !privileged(caller) && !self)) throw new NotFoundError("Employee");
  return { row, full: privileged(caller) || self };
}

function encodeCursor(row: EmployeeRow) {
  return Buffer.from(JSON.stringify([row.display_name ?? "", row.object_id])).toString("base64url");
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === "string")) {
      return value as [string, string];
    }
  } catch {
    // fall through
  }
  throw new BadRequestError("The cursor is not one this API gave out", "INVALID_CURSOR");
}

export type PeopleServiceOptions = {
  /** Run the durable sync job on its schedule (off in tests that drive the sync themselves). */
  scheduler?: boolean;
  syncIntervalMinutes?: number;
  /** How often this replica looks whether the sync is due. */
  schedulerPollMs?: number;
  syncLeaseMs?: number;
  /** People per users delta page asked of Graph (Prefer: odata.maxpagesize, at most 999). */
  syncPageSize?: number;
  /** How often this replica looks for mailbox settings left unread (it is also woken by every stored page). */
  mailboxPollMs?: number;
  /** The directory is vacuumed after this many mailbox settings read in one go (a first sync), and at its end. */
  mailboxVacuumAfter?: number;
};

export function createPeopleService(options: PeopleServiceOptions = {}): moleculer.ServiceSchema {
  const intervalMinutes = options.syncIntervalMinutes ?? Number(process.env.PEOPLE_SYNC_INTERVAL_MINUTES ?? 60);
  if (!Number.isFinite(intervalMinutes) || intervalMinutes <= 0) {
    throw new Error("PEOPLE_SYNC_INTERVAL_MINUTES must be a positive number of minutes");
  }
  const pageSize = options.syncPageSize ?? Number(process.env.PEOPLE_SYNC_PAGE_SIZE ?? 999);
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 999) {
    throw new Error("PEOPLE_SYNC_PAGE_SIZE must be a whole number from 1 to 999");
  }
  return {
    name: "people",
    mixins: [databaseMixin(database)],
    settings: {
      tenantId: DEV_TENANT_ID,
      syncIntervalMinutes: intervalMinutes,
      // How long a replica's claim on the sync lasts without progress: a killed replica's claim runs out after it.
      syncLeaseMs: options.syncLeaseMs ?? Number(process.env.PEOPLE_SYNC_LEASE_MS ?? 120_000),
      syncPageSize: pageSize,
    },
    created(this: Service) {
      const auth = configOf(this.broker).auth;
      // One tenant per deployment: the one whose tokens the gateway accepts.
      this.settings.tenantId = auth.kind === "entra" ? auth.tenantId : DEV_TENANT_ID;
    },
    async started(this: Service) {
      await ensureSyncState(this);
      this.mailboxReader = startMailboxReader(
        this,
        options.mailboxPollMs ?? Number(process.env.PEOPLE_MAILBOX_POLL_MS ?? 30_000),
        () => this.storingPages === true,
        options.mailboxVacuumAfter,
      );
      // Off in tools that run the sync themselves (the CLI), so that a scheduled run does not take the claim first.
      if (
        options.scheduler === false ||
        (options.scheduler === undefined && process.env.PEOPLE_SYNC_SCHEDULE === "off")
      )
        return;
      const every = options.schedulerPollMs ?? Math.min(60_000, intervalMinutes * 60_000);
      const poll = () => {
        if (!this.syncTimer || this.syncRunning) return;
        this.syncRunning = this.applyLeaveDates()
          .then(() => this.runSync("schedule"))
          .catch((error: Error) => this.logger.warn("Scheduled directory sync failed", { error: error.message }))
          .finally(() => {
            this.syncRunning = undefined;
          });
      };
      this.syncTimer = setInterval(poll, every);
      // A sync that is due (the first one, or one missed while no replica ran) starts now, not a poll later.
      setImmediate(poll);
    },
    async stopped(this: Service) {
      clearInterval(this.syncTimer);
      this.syncTimer = undefined;
      await this.syncRunning;
      await this.mailboxReader?.stop();
    },
    methods: {
      /** Leave dates reached since the last sync: also when there is no sync at all (HRIS-only directories). */
      async applyLeaveDates(this: Service) {
        const tenantId = this.settings.tenantId;
        const left = await this.transaction((em) => applyLeaveDates(this, em, { tenantId, today: today() }));
        if (left > 0) this.logger.info("Leave dates reached", { left });
      },
      /** Claims and runs the sync; null when it is not due or another replica holds it. */
      async runSync(this: Service, trigger: "schedule" | "manual", full = false) {
        const owner = await claimSync(this, trigger === "manual");
        if (!owner) return null;
        const run = await openRun(this, trigger, full);
        return runClaimedSync(this, owner, run);
      },
    },
    actions: {
      listEmployees: action(listEmployees, async function (this: Service, ctx) {
        const { caller } = ctx.meta;
        const p = ctx.params;
        if (p.includeLeft && !privileged(caller))
          throw new ForbiddenError("Only HR and Admin see people who have left");
        const query = directoryPageQuery(tenantOf(this, caller), {
          ...p,
          after: p.cursor ? decodeCursor(p.cursor) : undefined,
        });
        const rows = await sql<EmployeeRow>(this.em(), query.sql, query.args);
        const page = rows.slice(0, p.limit);
        const full = privileged(caller);
        return {
          items: page.map((r) => employeeView(r, full || r.object_id === caller?.objectId)),
          ...(rows.length > p.limit ? { nextCursor: encodeCursor(page[page.length - 1]!) } : {}),
        };
      }),

      getEmployee: action(getEmployee, async function (this: Service, ctx) {
        const { row, full } = await visibleEmployee(this, ctx.meta.caller, ctx.params.id);
        return employeeView(row, full);
      }),

      getOrgChart: action(getOrgChart, async function (this: Service, ctx) {
        const { caller } = ctx.meta;
        const { row, full } = await visibleEmployee(this, caller, ctx.params.id);
        const tenantId = tenantOf(this, caller);
        const em = this.em();
        const managers: TEmployee[] = [];
        const seen = new Set([row.object_id]);
        let managerId = row.manager_id;
        // A cycle in the directory must not loop forever.
        while (managerId && !seen.has(managerId) && managers.length < 50) {
          seen.add(managerId);
          const manager = await findEmployee(em, tenantId, managerId);
          if (!manager) break;
          managers.push(employeeView(manager, privileged(caller) || manager.object_id === caller?.objectId));
          managerId = manager.manager_id;
        }
        const reports = await sql<EmployeeRow>(
          em,
          `select * from ${T} where tenant_id = ? and manager_id = ? and status = 'active'
           order by coalesce(display_name, ''), object_id limit 1000`,
          [tenantId, row.object_id],
        );
        return {
          employee: employeeView(row, full),
          managers,
          directReports: reports.map((r) => employeeView(r, privileged(caller) || r.object_id === caller?.objectId)),
        };
      }),

      getMyProfile: action(getMyProfile, async function (this: Service, ctx) {
        const caller = ctx.meta.caller;
        if (!caller) throw new UnauthorizedError();
        const row = await findEmployee(this.em(), caller.tenantId, caller.objectId);
        if (!row) throw new NotFoundError("Your directory record");
        return employeeView(row, true);
      }),

      exportMyData: action(exportMyData, async function (this: Service, ctx) {
        const caller = ctx.meta.caller;
        if (!caller) throw new UnauthorizedError();
        const em = this.em();
        const row = await findEmployee(em, caller.tenantId, caller.objectId);
        const events = await sql<{ event: string; created_at: string | Date; payload: unknown }>(
          em,
          `select event, created_at, payload from "people".outbox
           where payload->>'objectId' = ? and payload->>'tenantId' = ? order by created_at, id`,
          [caller.objectId, caller.tenantId],
        );
        // Events still held for their mailbox settings are theirs too (not yet sent anywhere).
        for (const held of row ? heldEventsOf(row) : []) {
          events.push({ event: held.name, created_at: row!.updated_at, payload: held.payload });
        }
        let profile = null;
        if (row) {
          // The manager's id is someone else's identifier: the export holds only the caller's own data.
          const { managerId: _managerId, ...own } = employeeView(row, true);
          profile = own;
        }
        return {
          service: "people" as const,
          exportedAt: new Date().toISOString(),
          profile,
          events: events.map((e) => {
            const payload = { ...(typeof e.payload === "string" ? JSON.parse(e.payload) : e.payload) };
            delete payload.managerId;
            if (payload.changes && "managerId" in payload.changes) {
              payload.changes = { ...payload.changes };
              delete payload.changes.managerId;
            }
            return { event: e.event, occurredAt: new Date(e.created_at).toISOString(), payload };
          }),
        };
      }),

      eraseEmployee: action(eraseEmployee, async function (this: Service, ctx) {
        const tenantId = tenantOf(this, ctx.meta.caller);
        const objectId = ctx.params.id;
        await this.transaction(async (em) => {
          const [row] = await sql(em, `select 1 from ${T} where tenant_id = ? and object_id = ? for update`, [
            tenantId,
            objectId,
          ]);
          if (!row) throw new NotFoundError("Employee");
          await sql(em, `delete from ${T} where tenant_id = ? and object_id = ?`, [tenantId, objectId]);
          // Their reports keep a manager they can no longer name.
          const reports = await sql<EmployeeRow>(
            em,
            `select * from ${T} where tenant_id = ? and manager_id = ? for update`,
            [tenantId, objectId],
          );
          for (const report of reports) {
            const current = (await loadEmployees(em, tenantId, [report.object_id])).get(report.object_id)!;
            const outcome = applyProfile(
              current,
              report.object_id,
              { managerId: null },
              {
                tenantId,
                today: today(),
                source: current.source,
              },
            );
            if (outcome.next) await saveEmployee(em, outcome.next);
            await recordOrHold(this, em, tenantId, outcome.events, current);
          }
          // Earlier events about them carry their name and mail: those go; others' events lose the reference.
          await sql(em, `delete from "people".outbox where payload->>'objectId' = ? and payload->>'tenantId' = ?`, [
            objectId,
            tenantId,
          ]);
          await sql(
            em,
            `update "people".outbox set payload = jsonb_set(payload, '{managerId}', 'null'::jsonb) where payload->>'managerId' = ?`,
            [objectId],
          );
          await sql(
            em,
            `update "people".outbox set payload = jsonb_set(payload, '{changes,managerId}', 'null'::jsonb)
             where payload->'changes'->>'managerId' = ?`,
            [objectId],
          );
          // Events held for others' mailbox settings lose the reference too.
          await sql(
            em,
            `update ${T} set held_events = (
               select jsonb_agg(case
                 when e->'payload'->>'managerId' = ? then jsonb_set(e, '{payload,managerId}', 'null'::jsonb)
                 when e->'payload'->'changes'->>'managerId' = ? then jsonb_set(e, '{payload,changes,managerId}', 'null'::jsonb)
                 else e end order by n)
               from jsonb_array_elements(held_events) with ordinality as x(e, n))
             where tenant_id = ? and held_events is not null and held_events::text like ?`,
            [objectId, objectId, tenantId, `%${objectId}%`],
          );
          await sql(em, `delete from "people".dead_letter where payload::text like ?`, [`%${objectId}%`]);
          this.recordEvent(em, employeeErased, { tenantId, objectId });
        });
        return { id: objectId, erased: true as const };
      }),

      startDirectorySync: action(startDirectorySync, async function (this: Service) {
        const owner = await claimSync(this, true);
        if (owner) {
          const run = await openRun(this, "manual");
          // A first sync of a large tenant outlasts any request: it runs on, and GET /directory/sync shows it.
          const running = runClaimedSync(this, owner, run).catch((error: Error) =>
            this.logger.warn("Directory sync failed", { error: error.message }),
          );
          this.syncRunning = running;
          running.finally(() => {
            if (this.syncRunning === running) this.syncRunning = undefined;
          });
        }
        return syncStatus(this);
      }),

      getDirectorySync: action(getDirectorySync, async function (this: Service) {
        return syncStatus(this);
      }),

      // No timeout: a first sync of a large tenant takes minutes (callers may set their own).
      runDirectorySync: {
        ...action(runDirectorySync, async function (this: Service, ctx) {
          return (await this.runSync(ctx.params.trigger, ctx.params.full)) as never;
        }),
        timeout: 0,
      },

      importDirectoryCsv: action(importDirectoryCsv, async function (this: Service, ctx) {
        return importCsv(this, tenantOf(this, ctx.meta.caller), ctx.params.csv, ctx.params.mapping);
      }),

      importCsv: {
        ...action(importDirectoryCsvInternal, async function (this: Service, ctx) {
          return importCsv(this, this.settings.tenantId, ctx.params.csv, ctx.params.mapping);
        }),
        timeout: 0,
      },
    },

    /** The demo company (SEED_DEMO): only people not yet in the directory are added, each hired once. */
    async seedDemo(this: Service, em: EntityManager) {
      const tenantId = this.settings.tenantId;
      const people = demoDirectory(new Date());
      // Under the same per-person locks as a sync's pages (which insert those they did not find).
      const existing = await loadEmployees(
        em,
        tenantId,
        people.map((p) => p.objectId),
        { lock: true },
      );
      let created = 0;
      for (const person of people) {
        if (existing.has(person.objectId)) continue;
        const outcome = applyProfile(undefined, person.objectId, person.profile, {
          tenantId,
          today: today(),
          source: "csv",
        });
        await saveEmployee(em, outcome.next!);
        await recordOrHold(this, em, tenantId, outcome.events, undefined);
        created++;
      }
      return created;
    },
  } as unknown as moleculer.ServiceSchema;
}

export default createPeopleService();
