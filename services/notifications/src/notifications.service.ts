// Notifications: accepts requests durably (one delivery row per recipient, unique per dedupe key), enforces the
// survey-load governor, and leaves sending to the dispatcher (src/dispatcher.ts).
import { randomUUID } from "node:crypto";
import {
  checkSurveyLoad,
  getDeliveryStatus,
  getMyPreferences,
  getStatus,
  listMyNotifications,
  notify,
  type TDeliveryStatus,
  type TPreferences,
  type TRecipientStatus,
  updateMyPreferences,
} from "@hearth/contracts";
import {
  action,
  type DomainEvent,
  databaseMixin,
  executeBound,
  UnauthorizedError,
  ValidationFailedError,
} from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import type moleculer from "moleculer";
import { database } from "./database.ts";
import { seedDemo } from "./demo.ts";
import { Dispatcher, type DispatcherOptions, mergePreferences, type NotificationsThis, sql } from "./dispatcher.ts";
import { periodStart, zoneOrDefault } from "./domain/schedule.ts";
import { TemplateStore } from "./domain/templates.ts";

const T = (table: string) => `"notifications"."${table}"`;

export type NotificationsServiceOptions = Partial<DispatcherOptions> & {
  /** Feedback requests one person may get per governor period. */
  surveyCap?: number;
  surveyPeriod?: "week" | "month" | "quarter";
  dispatcher?: boolean;
};

const STATUSES: TDeliveryStatus[] = ["queued", "sent", "deferred", "failed", "suppressed", "deadLettered"];

function countsOf(rows: Array<{ status: string; n: string | number }>) {
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<TDeliveryStatus, number>;
  for (const r of rows) counts[r.status as TDeliveryStatus] = Number(r.n);
  return counts;
}

const iso = (v: unknown) => (v == null ? null : new Date(v as string).toISOString());

function statusView(r: Record<string, any>): TRecipientStatus {
  return {
    requestId: r.request_id,
    userId: r.user_id,
    templateId: r.template_id,
    priority: r.priority,
    status: r.status,
    reason: r.reason,
    channels: r.channels ?? r.channels_done ?? [],
    attempts: r.attempts,
    createdAt: iso(r.created_at)!,
    nextAttemptAt: iso(r.next_attempt_at),
    sentAt: iso(r.sent_at),
  };
}

const STATUS_SELECT = `select d.request_id, d.user_id, r.template_id, d.priority, d.status, d.reason, d.channels,
  d.channels_done, d.attempts, d.created_at, d.next_attempt_at, d.sent_at
  from ${T("delivery")} d join ${T("request")} r on r.id = d.request_id`;

type Service = NotificationsThis & { surveyCap: number; surveyPeriod: "week" | "month" | "quarter" };

/** Per person, feedback requests accepted in the trailing period (suppressed ones do not count). */
async function surveyCounts(em: EntityManager, userIds: string[], since: Date) {
  const rows = await sql<{ user_id: string; n: string }>(
    em,
    `select user_id, count(*) as n from ${T("delivery")}
     where user_id = any(?::uuid[]) and kind = 'feedbackRequest' and status <> 'suppressed' and created_at >= ?
     group by user_id`,
    [`{${userIds.join(",")}}`, since],
  );
  return new Map(rows.map((r) => [r.user_id, Number(r.n)]));
}

export function createNotificationsService(options: NotificationsServiceOptions = {}): moleculer.ServiceSchema {
  const env = process.env;
  const dispatcherOptions: DispatcherOptions = {
    now: () => new Date(),
    batchSize: Number(env.NOTIFICATIONS_BATCH_SIZE ?? 5000),
    leaseMs: Number(env.NOTIFICATIONS_LEASE_MS ?? 120_000),
    pollMs: Number(env.NOTIFICATIONS_POLL_MS ?? 1000),
    maxAttempts: Number(env.NOTIFICATIONS_MAX_ATTEMPTS ?? 6),
    feedParallelism: Number(env.NOTIFICATIONS_FEED_PARALLELISM ?? 4),
    loops: Number(env.NOTIFICATIONS_DISPATCH_LOOPS ?? 2),
    feedCallSize: Number(env.NOTIFICATIONS_FEED_CALL_SIZE ?? 500),
    perPersonParallelism: 8,
    defaultTimeZone: zoneOrDefault(env.NOTIFICATIONS_DEFAULT_TIME_ZONE, "Europe/Berlin"),
    mailSenderId: env.NOTIFICATIONS_MAIL_SENDER_ID || undefined,
    feedWebUrl: env.NOTIFICATIONS_FEED_URL ?? "https://teams.microsoft.com/l/entity/hearth/home",
    backoffBaseMs: Number(env.NOTIFICATIONS_BACKOFF_BASE_MS ?? 2000),
    ...options,
  };
  return {
    name: "notifications",
    mixins: [databaseMixin(database)],
    created(this: Service) {
      this.templates = new TemplateStore();
      this.options = dispatcherOptions;
      this.surveyCap = options.surveyCap ?? Number(env.NOTIFICATIONS_SURVEY_CAP ?? 4);
      this.surveyPeriod = options.surveyPeriod ?? ((env.NOTIFICATIONS_SURVEY_PERIOD as "month") || "month");
    },
    started(this: Service) {
      this.dispatcher = new Dispatcher(this, dispatcherOptions);
      if (options.dispatcher !== false) this.dispatcher.start();
    },
    async stopped(this: Service) {
      await this.dispatcher?.stop();
    },
    domainEvents: {
      async "employee.hired"(this: Service, event: DomainEvent<any>, em: EntityManager) {
        const p = event.payload;
        await sql(
          em,
          `insert into ${T("recipient")} (user_id, display_name, mail, time_zone, language, "left", updated_at)
           values (?, ?, ?, ?, ?, false, now()) on conflict (user_id) do update set display_name = excluded.display_name,
           mail = excluded.mail, time_zone = excluded.time_zone, language = excluded.language, "left" = false,
           updated_at = now()`,
          [p.objectId, p.displayName, p.mail, p.timeZone, p.preferredLanguage],
        );
      },
      async "employee.updated"(this: Service, event: DomainEvent<any>, em: EntityManager) {
        const { objectId, changes } = event.payload as { objectId: string; changes: Record<string, unknown> };
        const columns: Record<string, string> = {
          displayName: "display_name",
          mail: "mail",
          timeZone: "time_zone",
          preferredLanguage: "language",
        };
        const set = Object.entries(columns).filter(([field]) => field in changes);
        if (set.length === 0) return;
        await sql(
          em,
          `insert into ${T("recipient")} (user_id, ${set.map(([, c]) => c).join(", ")}, "left", updated_at)
           values (?, ${set.map(() => "?").join(", ")}, false, now()) on conflict (user_id) do update set
           ${set.map(([, c]) => `${c} = excluded.${c}`).join(", ")}, updated_at = now()`,
          [objectId, ...set.map(([field]) => changes[field] ?? null)],
        );
      },
      async "employee.left"(this: Service, event: DomainEvent<any>, em: EntityManager) {
        await sql(em, `update ${T("recipient")} set "left" = true, updated_at = now() where user_id = ?`, [
          event.payload.objectId,
        ]);
      },
      async "employee.erased"(this: Service, event: DomainEvent<any>, em: EntityManager) {
        const id = event.payload.objectId;
        await sql(em, `delete from ${T("recipient")} where user_id = ?`, [id]);
        await sql(em, `delete from ${T("preference")} where user_id = ?`, [id]);
        await sql(em, `delete from ${T("delivery")} where user_id = ?`, [id]);
      },
    },
    seedDemo,
    actions: {
      notify: action(notify, async function (this: Service, ctx) {
        const p = ctx.params;
        if (!this.templates.has(p.templateId)) {
          throw new ValidationFailedError([{ field: "templateId", message: `no template "${p.templateId}"` }]);
        }
        const userIds = [...new Set(p.audience.userIds.map((id) => id.toLowerCase()))];
        const now = this.options.now();
        const result = await this.transaction(async (em) => {
          const inserted = await sql<{ id: string }>(
            em,
            `insert into ${T("request")} (id, dedupe_key, template_id, data, actions, priority, kind, source, recipients, created_at)
             values (?, ?, ?, ?::jsonb, ?::jsonb, ?, ?, ?, ?, ?) on conflict (dedupe_key) do nothing returning id`,
            [
              randomUUID(),
              p.dedupeKey,
              p.templateId,
              JSON.stringify(p.data),
              p.actions ? JSON.stringify(p.actions) : null,
              p.priority,
              p.kind ?? null,
              p.source ?? null,
              userIds.length,
              now,
            ],
          );
          const requestId =
            inserted[0]?.id ??
            (await sql<{ id: string }>(em, `select id from ${T("request")} where dedupe_key = ?`, [p.dedupeKey]))[0]!
              .id;
          let blocked = new Set<string>();
          if (p.kind === "feedbackRequest") {
            // Serialise governor decisions per person: two requests at once must not both take the last slot.
            await sql(em, "select pg_advisory_xact_lock(hashtext('notifications.survey-load'))");
            const counts = await surveyCounts(em, userIds, periodStart(now, this.surveyPeriod));
            blocked = new Set(userIds.filter((id) => (counts.get(id) ?? 0) >= this.surveyCap));
          }
          const rows = userIds.map((id) => ({
            id: randomUUID(),
            u: id,
            s: blocked.has(id) ? "suppressed" : "queued",
            r: blocked.has(id) ? `survey load: ${this.surveyCap} per ${this.surveyPeriod} reached` : null,
          }));
          // Bound parameters: MikroORM's execute would escape the rows' JSON (1.5 MB for a part of 20,000) into the
          // SQL text, character by character, while the fan-out's first calls wait for the same two cores.
          const created = await executeBound<{ status: string; n: string }>(
            em,
            `with ins as (
               insert into ${T("delivery")} (id, request_id, user_id, dedupe_key, kind, priority, status, reason, attempts,
                 next_attempt_at, digest, created_at, updated_at)
               select v.id, $1::uuid, v.u, $2::text, $3::text, $4::text, v.s, v.r, 0,
                      case when v.s = 'queued' then $5::timestamptz end, false, $5::timestamptz, $5::timestamptz
               from jsonb_to_recordset($6::jsonb) as v(id uuid, u uuid, s text, r text)
               on conflict (user_id, dedupe_key) do nothing returning status)
             select status, count(*) as n from ins group by status`,
            [requestId, p.dedupeKey, p.kind ?? null, p.priority, now, JSON.stringify(rows)],
          );
          const accepted = Number(created.find((c) => c.status === "queued")?.n ?? 0);
          if (inserted.length === 0) {
            // Another part of the same audience (same dedupe key): the request counts everyone it reaches (each part
            // adds the people it inserted; counting the request's rows again cost a scan per part).
            const added = created.reduce((sum, c) => sum + Number(c.n), 0);
            await sql(em, `update ${T("request")} set recipients = recipients + ? where id = ?`, [added, requestId]);
          }
          return { requestId, accepted, suppressed: userIds.length - accepted };
        });
        this.logger.info("Notification accepted", { templateId: p.templateId, ...result });
        this.dispatcher?.wake();
        return result;
      }),

      getStatus: action(getStatus, async function (this: Service, ctx) {
        const { requestId, userId, limit } = ctx.params;
        const em = this.em();
        const where: string[] = [];
        const args: unknown[] = [];
        if (requestId) {
          where.push("d.request_id = ?");
          args.push(requestId);
        }
        if (userId) {
          where.push("d.user_id = ?");
          args.push(userId);
        }
        const counts = await sql<{ status: string; n: string }>(
          em,
          `select status, count(*) as n from ${T("delivery")} d where ${where.join(" and ")} group by status`,
          args,
        );
        const items = await sql(
          em,
          `${STATUS_SELECT} where ${where.join(" and ")} order by d.created_at desc, d.id limit ?`,
          [...args, limit],
        );
        return { counts: countsOf(counts), items: items.map(statusView) };
      }),

      checkSurveyLoad: action(checkSurveyLoad, async function (this: Service, ctx) {
        const userIds = ctx.params.userIds.map((id) => id.toLowerCase());
        const period = ctx.params.period;
        const counts = await surveyCounts(this.em(), userIds, periodStart(this.options.now(), period));
        const cap = this.surveyCap;
        return {
          cap,
          period,
          users: userIds.map((userId) => {
            const count = counts.get(userId) ?? 0;
            return { userId, allowed: count < cap, count, cap };
          }),
        };
      }),

      getMyPreferences: action(getMyPreferences, async function (this: Service, ctx) {
        const me = ctx.meta.caller?.objectId;
        if (!me) throw new UnauthorizedError("Sign in to see your notification preferences");
        const [row] = await sql<{ prefs: Partial<TPreferences> }>(
          this.em(),
          `select prefs from ${T("preference")} where user_id = ?`,
          [me],
        );
        return mergePreferences(row?.prefs);
      }),

      updateMyPreferences: action(updateMyPreferences, async function (this: Service, ctx) {
        const me = ctx.meta.caller?.objectId;
        if (!me) throw new UnauthorizedError("Sign in to change your notification preferences");
        if (ctx.params.timeZone && zoneOrDefault(ctx.params.timeZone, "") === "") {
          throw new ValidationFailedError([{ field: "timeZone", message: "not an IANA time zone" }]);
        }
        return this.transaction(async (em) => {
          const [row] = await sql<{ prefs: Partial<TPreferences> }>(
            em,
            `select prefs from ${T("preference")} where user_id = ? for update`,
            [me],
          );
          const merged = mergePreferences({ ...mergePreferences(row?.prefs), ...ctx.params });
          await sql(
            em,
            `insert into ${T("preference")} (user_id, prefs, updated_at) values (?, ?::jsonb, now())
             on conflict (user_id) do update set prefs = excluded.prefs, updated_at = now()`,
            [me, JSON.stringify(merged)],
          );
          // Deferred deliveries are looked at again under the new preferences (a lifted snooze sends now).
          await sql(em, `update ${T("delivery")} set next_attempt_at = ? where user_id = ? and status = 'deferred'`, [
            this.options.now(),
            me,
          ]);
          return merged;
        });
      }),

      listMyNotifications: action(listMyNotifications, async function (this: Service, ctx) {
        const me = ctx.meta.caller?.objectId;
        if (!me) throw new UnauthorizedError("Sign in to see your notifications");
        const items = await sql(
          this.em(),
          `${STATUS_SELECT} where d.user_id = ? order by d.created_at desc, d.id limit ?`,
          [me, ctx.params.limit],
        );
        return { items: items.map(statusView) };
      }),

      getDeliveryStatus: action(getDeliveryStatus, async function (this: Service, ctx) {
        const em = this.em();
        const { requestId, limit } = ctx.params;
        const counts = await sql<{ status: string; n: string }>(
          em,
          `select status, count(*) as n from ${T("delivery")} ${requestId ? "where request_id = ?" : ""} group by status`,
          requestId ? [requestId] : [],
        );
        const requests = await sql(
          em,
          `select r.id, r.template_id, r.priority, r.source, r.created_at, r.recipients,
             coalesce(jsonb_object_agg(c.status, c.n) filter (where c.status is not null), '{}'::jsonb) as counts
           from ${T("request")} r
           left join lateral (select status, count(*) as n from ${T("delivery")} where request_id = r.id group by status) c on true
           ${requestId ? "where r.id = ?" : ""}
           group by r.id order by r.created_at desc limit ?`,
          requestId ? [requestId, limit] : [limit],
        );
        const deadLetters = await sql(
          em,
          `${STATUS_SELECT} where d.status = 'deadLettered' ${requestId ? "and d.request_id = ?" : ""}
           order by d.updated_at desc limit ?`,
          requestId ? [requestId, limit] : [limit],
        );
        return {
          counts: countsOf(counts),
          requests: requests.map((r) => ({
            requestId: r.id,
            templateId: r.template_id,
            priority: r.priority,
            source: r.source,
            createdAt: iso(r.created_at)!,
            recipients: r.recipients,
            counts: countsOf(Object.entries(r.counts as Record<string, number>).map(([status, n]) => ({ status, n }))),
          })),
          deadLetters: deadLetters.map(statusView),
        };
      }),
    },
  } as unknown as moleculer.ServiceSchema;
}

export default createNotificationsService();
