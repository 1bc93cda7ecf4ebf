// Delivery: claims due deliveries from PostgreSQL (SKIP LOCKED, with a lease, so replicas share the work and a
// killed node's claims run out), applies the person's preferences, renders and sends through m365, and records each
// channel as soon as it went out. State lives only in the delivery table: a restart loses nothing.
import { randomUUID } from "node:crypto";
import {
  notificationDeadLettered,
  type TCardAction,
  type TChannel,
  type TPreferences,
  type TPriority,
} from "@hearth/contracts";
import { call, type DatabaseThis, executeBound } from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import { backoffMs, DEFAULT_PREFERENCES, decide, zoneOrDefault } from "./domain/schedule.ts";
import { type Language, languageOf, type Rendered, type TemplateStore } from "./domain/templates.ts";

export type DispatcherOptions = {
  now: () => Date;
  batchSize: number;
  leaseMs: number;
  pollMs: number;
  maxAttempts: number;
  /** Dispatch loops in this node, each with its own batch. */
  loops: number;
  /** m365.sendActivityNotifications calls in flight at once (per loop). */
  feedParallelism: number;
  /**
   * Recipients per m365 call (m365 sends them in Graph bulk calls of 100). Larger calls cost less per person; a node
   * killed mid-call may send the people of its calls in flight again, so this bounds that.
   */
  feedCallSize: number;
  /** Bot cards and mails in flight at once. */
  perPersonParallelism: number;
  defaultTimeZone: string;
  mailSenderId?: string;
  /** A Teams deep link for activity-feed topics. */
  feedWebUrl: string;
  backoffBaseMs: number;
};

export type NotificationsThis = DatabaseThis & {
  templates: TemplateStore;
  dispatcher: Dispatcher;
  options: DispatcherOptions;
};

type ClaimedRow = {
  id: string;
  request_id: string;
  user_id: string;
  priority: TPriority;
  attempts: number;
  digest: boolean;
  channels_done: TChannel[] | null;
  /** The m365 idempotency key of this row's feed call (claim id and chunk number), kept until the feed went out. */
  feed_call: string;
};

type RequestRow = {
  id: string;
  template_id: string;
  data: Record<string, unknown>;
  actions: TCardAction[] | null;
  dedupe_key: string;
};

type Person = {
  userId: string;
  prefs: TPreferences;
  language: Language;
  timeZone: string;
  mail: string | null;
  displayName: string | null;
};

type Outcome = { done: TChannel[]; errors: string[]; retryAfterMs?: number; permanent?: boolean };

/** A channel failed for a person: keep the reason, the longest Retry-After and whether retrying can help. */
function recordFailure(outcome: Outcome, channel: TChannel, error: unknown) {
  outcome.errors.push(`${channel}: ${errorText(error)}`);
  outcome.retryAfterMs = retryAfterOf(error) ?? outcome.retryAfterMs;
  if (isPermanent(error)) outcome.permanent = true;
}

export function sql<R = Record<string, any>>(em: EntityManager, query: string, params: unknown[] = []): Promise<R[]> {
  return (em as unknown as { execute(q: string, p: unknown[]): Promise<R[]> }).execute(query, params);
}

const T = (table: string) => `"notifications"."${table}"`;

/** A person's preferences over the defaults: a new object each time (its nested parts too), without a deep clone
 * (structuredClone per person was 0.4 s of a 100,000-person fan-out's CPU). */
export function mergePreferences(stored: Partial<TPreferences> | null | undefined): TPreferences {
  const base = DEFAULT_PREFERENCES;
  const own = stored ?? {};
  const workingHours = { ...base.workingHours, ...own.workingHours };
  return {
    ...base,
    ...own,
    channels: { ...base.channels, ...own.channels },
    delivery: { ...base.delivery, ...own.delivery },
    workingHours: { ...workingHours, days: [...workingHours.days] },
  };
}

/** Runs `work` over the items, `parallelism` at a time; `drained` is called once the last item has been started. */
async function pool<T>(items: T[], parallelism: number, work: (item: T) => Promise<void>, drained?: () => void) {
  let next = 0;
  if (items.length === 0) drained?.();
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      if (next === items.length) drained?.();
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallelism, items.length) }, worker));
}

/** A batch in progress: all its sends started (the loop may claim the next), and all of it recorded. */
type Batch = { claimed: number; started: Promise<void>; done: Promise<void> };

function errorText(error: unknown): string {
  const e = error as { type?: string; message?: string };
  return `${e?.type ? `${e.type}: ` : ""}${e?.message ?? String(error)}`.slice(0, 1000);
}

function retryAfterOf(error: unknown): number | undefined {
  const data = (error as { data?: { retryAfterSeconds?: number; retryAfterMs?: number } })?.data;
  if (typeof data?.retryAfterMs === "number") return data.retryAfterMs;
  if (typeof data?.retryAfterSeconds === "number") return data.retryAfterSeconds * 1000;
  return undefined;
}

/** The broker's own "no m365 node now" errors carry 404/503: m365 being away is retried, never a dead letter. */
const TRANSIENT_TYPES = new Set(["SERVICE_NOT_FOUND", "SERVICE_NOT_AVAILABLE", "REQUEST_TIMEOUT", "REQUEST_SKIPPED"]);

export function isPermanent(error: unknown): boolean {
  const { code, type } = (error ?? {}) as { code?: number; type?: string };
  if (type && TRANSIENT_TYPES.has(type)) return false;
  return typeof code === "number" && code >= 400 && code < 500 && code !== 408 && code !== 429;
}

export class Dispatcher {
  private readonly service: NotificationsThis;
  private readonly options: DispatcherOptions;
  private running = false;
  private loops: Promise<void>[] = [];
  private sleepers = new Set<() => void>();
  /** Wakes so far: a loop whose claim began before the latest one claims again instead of sleeping. */
  private wakes = 0;
  readonly stats = { batches: 0, feedCalls: 0, retries: 0 };

  constructor(service: NotificationsThis, options: DispatcherOptions) {
    this.service = service;
    this.options = options;
  }

  private get logger() {
    return this.service.logger;
  }

  private execute(sql: string, params: unknown[] = []) {
    return this.service.em().getConnection().execute(sql, params) as Promise<Array<Record<string, any>>>;
  }

  /** Several loops, so that one's batch boundary (records, next claim) overlaps the others' calls in flight. */
  start() {
    this.running = true;
    this.loops = Array.from({ length: this.options.loops }, () => this.run());
  }

  async stop() {
    this.running = false;
    this.wake();
    await Promise.all(this.loops);
  }

  wake() {
    this.wakes++;
    for (const resolve of this.sleepers) resolve();
  }

  /**
   * A loop claims its next batch as soon as every send of the current one has started, so that the next batch's
   * claim, loading and rendering overlap the current one's last calls and the m365 budget never waits for us
   * (two loops that each waited for their batch to finish fell into step and left the bulk feed idle for ~350 ms
   * every 10,000 people). At most two batches per loop are in progress at a time.
   */
  private async run() {
    let previous: Promise<void> = Promise.resolve();
    const first = Math.min(this.options.feedCallSize, this.options.batchSize);
    let size = first;
    while (this.running) {
      let worked = 0;
      // A wake (new work, from notify) after this claim's snapshot means: claim again before sleeping.
      const wakesBefore = this.wakes;
      try {
        // After an idle spell the first claim is one feed call's worth and each next one twice the last, up to the
        // batch size: the first people are on their way at once, and each claim is done before the batch before it
        // has been sent (a claim of 5,000 right after one of 500 left the feed idle ~200 ms).
        const batch = await this.claimAndSend(size);
        worked = batch.claimed;
        size = worked === 0 ? first : Math.min(this.options.batchSize, size * 2);
        if (worked > 0) {
          await batch.started;
          await previous;
          previous = batch.done.catch((error) =>
            this.logger.warn("Notification dispatch failed; trying again", { error: errorText(error) }),
          );
        }
      } catch (error) {
        this.logger.warn("Notification dispatch failed; trying again", { error: errorText(error) });
      }
      if (!this.running) break;
      if (worked === 0 && this.wakes === wakesBefore) {
        // The batch before keeps going meanwhile: an empty claim that waited for it first left the next part of an
        // audience (its wake came while nobody slept) unclaimed for 400 ms at the start of a fan-out.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.options.pollMs);
          const sleepers = this.sleepers;
          function done() {
            clearTimeout(timer);
            sleepers.delete(done);
            resolve();
          }
          sleepers.add(done);
        });
      }
    }
    await previous;
  }

  /** Claims and handles one batch of due deliveries to the end; returns how many it claimed. */
  async runOnce(): Promise<number> {
    const batch = await this.claimAndSend();
    await batch.done;
    return batch.claimed;
  }

  /**
   * Claims due deliveries and starts handling them. Each claimed row also gets a feed call key, unless it kept one
   * from an earlier attempt: the claim's id and the row's chunk number (rows in id order, `feedCallSize` per chunk).
   * That key goes to m365 with the feed call, so a call whose answer was lost (this node died) is answered from
   * m365's record when the rows are claimed again, instead of being sent a second time.
   */
  private async claimAndSend(limit = this.options.batchSize): Promise<Batch> {
    const now = this.options.now();
    const claimed = (await this.execute(
      `with picked as (
         select id from ${T("delivery")}
         where status in ('queued', 'deferred', 'failed') and next_attempt_at <= ? and (claimed_until is null or claimed_until < ?)
         order by next_attempt_at limit ? for update skip locked),
       numbered as (select id, (row_number() over (order by id) - 1) / ? as chunk from picked)
       update ${T("delivery")} d set claimed_until = ?, updated_at = ?,
         feed_call = coalesce(d.feed_call, ?::text || ':' || numbered.chunk)
       from numbered where d.id = numbered.id
       returning d.id, d.request_id, d.user_id, d.priority, d.attempts, d.digest, d.channels_done, d.feed_call`,
      [now, now, limit, this.options.feedCallSize, new Date(now.getTime() + this.options.leaseMs), now, randomUUID()],
    )) as ClaimedRow[];
    if (claimed.length === 0) return { claimed: 0, started: Promise.resolve(), done: Promise.resolve() };
    this.stats.batches++;
    let markStarted = () => {};
    const started = new Promise<void>((resolve) => {
      markStarted = resolve;
    });
    const done = this.handle(claimed, now, markStarted).finally(markStarted);
    // The caller waits for `started` and keeps `done`; a failure before the sends started surfaces through both.
    return { claimed: claimed.length, started: Promise.race([started, done.then(() => undefined)]), done };
  }

  private async handle(claimed: ClaimedRow[], now: Date, started: () => void): Promise<void> {
    const requests = await this.loadRequests([...new Set(claimed.map((c) => c.request_id))]);
    const people = await this.loadPeople([...new Set(claimed.map((c) => c.user_id))]);

    const sends: ClaimedRow[] = [];
    const digests = new Map<string, ClaimedRow[]>();
    const deferrals: Array<{ row: ClaimedRow; until: Date; reason: string; digest: boolean }> = [];
    for (const row of claimed) {
      const person = people.get(row.user_id)!;
      const decision = decide({
        now,
        priority: row.priority,
        prefs: person.prefs,
        timeZone: person.timeZone,
        digestDue: row.digest,
      });
      if (decision.action === "defer") {
        // A digest that is due but falls into quiet hours or a snooze waits further, still as part of the digest.
        deferrals.push({
          row,
          until: decision.until,
          reason: decision.reason,
          digest: decision.reason === "digest" || row.digest,
        });
      } else if (row.digest) {
        const list = digests.get(row.user_id) ?? [];
        list.push(row);
        digests.set(row.user_id, list);
      } else {
        sends.push(row);
      }
    }
    if (deferrals.length > 0) await this.defer(deferrals);
    await this.sendDigests(digests, requests, people);
    await this.sendImmediate(sends, requests, people, started);
  }

  private async loadRequests(ids: string[]) {
    const rows = await executeBound<RequestRow>(
      this.service.em(),
      `select id, template_id, data, actions, dedupe_key from ${T("request")} where id = any($1::uuid[])`,
      [`{${ids.join(",")}}`],
    );
    return new Map(rows.map((r) => [r.id, r]));
  }

  async loadPeople(userIds: string[]): Promise<Map<string, Person>> {
    // Bound parameters: a claim's 5,000 ids are not escaped into the SQL text.
    const array = `{${userIds.join(",")}}`;
    const em = this.service.em();
    const [prefRows, recipientRows] = await Promise.all([
      executeBound<Record<string, any>>(
        em,
        `select user_id, prefs from ${T("preference")} where user_id = any($1::uuid[])`,
        [array],
      ),
      executeBound<Record<string, any>>(
        em,
        `select user_id, display_name, mail, time_zone, language from ${T("recipient")} where user_id = any($1::uuid[])`,
        [array],
      ),
    ]);
    const prefs = new Map(prefRows.map((r) => [r.user_id as string, r.prefs as Partial<TPreferences>]));
    const recipients = new Map(recipientRows.map((r) => [r.user_id as string, r]));
    return new Map(
      userIds.map((userId) => {
        const p = mergePreferences(prefs.get(userId));
        const r = recipients.get(userId);
        return [
          userId,
          {
            userId,
            prefs: p,
            language: languageOf(p.language ?? r?.language),
            timeZone: zoneOrDefault(p.timeZone ?? r?.time_zone, this.options.defaultTimeZone),
            mail: r?.mail ?? null,
            displayName: r?.display_name ?? null,
          },
        ];
      }),
    );
  }

  private async defer(items: Array<{ row: ClaimedRow; until: Date; reason: string; digest: boolean }>) {
    const now = this.options.now();
    await this.execute(
      `update ${T("delivery")} d set status = 'deferred', reason = v.reason, next_attempt_at = v.until,
         digest = v.digest, claimed_until = null, updated_at = ?
       from jsonb_to_recordset(?::jsonb) as v(id uuid, until timestamptz, reason text, digest boolean)
       where d.id = v.id`,
      [
        now,
        JSON.stringify(
          items.map((i) => ({ id: i.row.id, until: i.until.toISOString(), reason: i.reason, digest: i.digest })),
        ),
      ],
    );
  }

  /** The channels a person gets for a request: their choice, and a card only where there is something to act on. */
  private channelsFor(person: Person, actionable: boolean): TChannel[] {
    const c = person.prefs.channels;
    const channels: TChannel[] = [];
    if (c.teamsCard && actionable) channels.push("teamsCard");
    if (c.activityFeed) channels.push("activityFeed");
    if (c.mail && person.mail && this.options.mailSenderId) channels.push("mail");
    // Someone who turned every channel off still gets actionable or urgent things somewhere: the feed.
    return channels;
  }

  private render(request: RequestRow, person: Person): Rendered {
    return this.service.templates.render(
      request.template_id,
      { language: person.language, timeZone: person.timeZone, displayName: person.displayName },
      request.data,
      request.actions ?? [],
    );
  }

  private async sendImmediate(
    rows: ClaimedRow[],
    requests: Map<string, RequestRow>,
    people: Map<string, Person>,
    started: () => void = () => {},
  ) {
    if (rows.length === 0) return started();
    const outcomes = new Map<string, Outcome>();
    const plan = new Map<string, TChannel[]>();
    const suppressed: ClaimedRow[] = [];
    for (const row of rows) {
      const request = requests.get(row.request_id)!;
      const channels = this.channelsFor(people.get(row.user_id)!, (request.actions?.length ?? 0) > 0);
      if (channels.length === 0) {
        suppressed.push(row);
        continue;
      }
      const done = row.channels_done ?? [];
      plan.set(row.id, channels);
      outcomes.set(row.id, { done: [...done], errors: [] });
    }
    if (suppressed.length > 0) {
      await this.execute(
        `update ${T("delivery")} set status = 'suppressed', reason = 'every channel is turned off', claimed_until = null,
           updated_at = ? where id = any(?::uuid[])`,
        [this.options.now(), `{${suppressed.map((r) => r.id).join(",")}}`],
      );
    }
    const todo = (channel: TChannel) =>
      rows.filter((r) => plan.get(r.id)?.includes(channel) && !outcomes.get(r.id)!.done.includes(channel));

    // Cards first: sending one installs the Teams app where it is missing, without which Graph accepts the feed
    // notification and shows the person nothing.
    await this.sendCards(todo("teamsCard"), requests, people, outcomes);
    // Rows whose every planned channel went out are recorded as sent as soon as their feed call returns.
    const settled = new Set<string>();
    await Promise.all([
      this.sendFeed(todo("activityFeed"), requests, people, outcomes, plan, settled, started),
      this.sendMails(todo("mail"), requests, people, outcomes),
    ]);
    await this.finish(
      rows.filter((r) => plan.has(r.id) && !settled.has(r.id)),
      plan,
      outcomes,
      requests,
    );
  }

  /**
   * Bulk activity feed: one m365 call per chunk of people with the same text (m365 sends them 100 per Graph call),
   * recorded as each call returns: people with nothing else to wait for are `sent` right then, in one statement per
   * call. A call's chunk is its rows' feed call key (kept across attempts) and their language and zone, so a retry of
   * a call whose answer was lost repeats the same m365 idempotency key.
   */
  private async sendFeed(
    rows: ClaimedRow[],
    requests: Map<string, RequestRow>,
    people: Map<string, Person>,
    outcomes: Map<string, Outcome>,
    plan: Map<string, TChannel[]>,
    settled: Set<string>,
    started: () => void,
  ) {
    const chunks = new Map<string, { key: string; preview: string; request: RequestRow; rows: ClaimedRow[] }>();
    const previews = new Map<string, string>();
    for (const row of rows) {
      const person = people.get(row.user_id)!;
      const request = requests.get(row.request_id)!;
      const text = `${row.request_id}\u0000${person.language}\u0000${person.timeZone}`;
      let preview = previews.get(text);
      if (preview === undefined) {
        preview = this.render(request, person).feed;
        previews.set(text, preview);
      }
      const key = `${row.feed_call}:${person.language}:${person.timeZone}`;
      let chunk = chunks.get(key);
      if (!chunk) {
        chunk = { key, preview, request, rows: [] };
        chunks.set(key, chunk);
      }
      chunk.rows.push(row);
    }
    await pool(
      [...chunks.values()],
      this.options.feedParallelism,
      async (chunk) => {
        const byUser = new Map(chunk.rows.map((r) => [r.user_id, r]));
        try {
          this.stats.feedCalls++;
          const { results } = await call(this.service.broker as never, "m365.sendActivityNotifications", {
            recipientIds: [...byUser.keys()],
            activityType: "hearthNotification",
            previewText: chunk.preview || chunk.request.template_id,
            topic: { source: "text", value: "Hearth", webUrl: this.options.feedWebUrl },
            templateParameters: [{ name: "text", value: chunk.preview }],
            idempotencyKey: chunk.key.slice(0, 200),
          });
          const complete: ClaimedRow[] = [];
          const partial: string[] = [];
          for (const r of results) {
            const row = byUser.get(r.userId);
            if (!row) continue;
            const outcome = outcomes.get(row.id)!;
            if (r.status === "accepted") {
              outcome.done.push("activityFeed");
              if (plan.get(row.id)!.every((c) => outcome.done.includes(c))) complete.push(row);
              else partial.push(row.id);
            } else outcome.errors.push(`activityFeed: ${r.error ?? "failed"}`);
          }
          await Promise.all([this.markSent(complete, plan), this.markDone(partial, "activityFeed")]);
          for (const row of complete) settled.add(row.id);
        } catch (error) {
          for (const row of chunk.rows) {
            recordFailure(outcomes.get(row.id)!, "activityFeed", error);
          }
        }
      },
      started,
    );
  }

  /** Rows whose every planned channel went out: sent, in one statement. */
  private async markSent(rows: ClaimedRow[], plan: Map<string, TChannel[]>) {
    if (rows.length === 0) return;
    const now = this.options.now();
    // Bound parameters (not escaped into the SQL text): this runs for every feed call of a fan-out.
    await executeBound(
      this.service.em(),
      `update ${T("delivery")} d set status = 'sent', reason = null, channels = v.channels, channels_done = v.channels,
         sent_at = $1::timestamptz, attempts = attempts + 1, claimed_until = null, next_attempt_at = null,
         updated_at = $1::timestamptz
       from jsonb_to_recordset($2::jsonb) as v(id uuid, channels jsonb) where d.id = v.id`,
      [now, JSON.stringify(rows.map((r) => ({ id: r.id, channels: plan.get(r.id) })))],
    );
  }

  private async sendCards(
    rows: ClaimedRow[],
    requests: Map<string, RequestRow>,
    people: Map<string, Person>,
    outcomes: Map<string, Outcome>,
  ) {
    await pool(rows, this.options.perPersonParallelism, async (row) => {
      const person = people.get(row.user_id)!;
      const rendered = this.render(requests.get(row.request_id)!, person);
      try {
        await call(this.service.broker as never, "m365.sendBotCard", {
          userId: row.user_id,
          card: rendered.card as never,
          summary: rendered.feed.slice(0, 300),
        });
        outcomes.get(row.id)!.done.push("teamsCard");
        await this.markDone([row.id], "teamsCard");
      } catch (error) {
        recordFailure(outcomes.get(row.id)!, "teamsCard", error);
      }
    });
  }

  private async sendMails(
    rows: ClaimedRow[],
    requests: Map<string, RequestRow>,
    people: Map<string, Person>,
    outcomes: Map<string, Outcome>,
  ) {
    await pool(rows, this.options.perPersonParallelism, async (row) => {
      const person = people.get(row.user_id)!;
      const rendered = this.render(requests.get(row.request_id)!, person);
      try {
        await call(this.service.broker as never, "m365.sendMail", {
          senderId: this.options.mailSenderId!,
          to: [person.mail!],
          subject: rendered.subject.slice(0, 255) || "Hearth",
          html: rendered.html,
        });
        outcomes.get(row.id)!.done.push("mail");
        await this.markDone([row.id], "mail");
      } catch (error) {
        recordFailure(outcomes.get(row.id)!, "mail", error);
      }
    });
  }

  private async markDone(ids: string[], channel: TChannel) {
    if (ids.length === 0) return;
    await this.execute(
      `update ${T("delivery")} set channels_done = coalesce(channels_done, '[]'::jsonb) || ?::jsonb, updated_at = ?
       where id = any(?::uuid[]) and not coalesce(channels_done, '[]'::jsonb) @> ?::jsonb`,
      [JSON.stringify([channel]), this.options.now(), `{${ids.join(",")}}`, JSON.stringify([channel])],
    );
  }

  /**
   * Sent when every planned channel went out; otherwise failed (retried at next_attempt_at, with backoff), or
   * dead-lettered with the reason after the last attempt or a permanent refusal.
   */
  private async finish(
    rows: ClaimedRow[],
    plan: Map<string, TChannel[]>,
    outcomes: Map<string, Outcome>,
    requests: Map<string, RequestRow>,
  ) {
    const now = this.options.now();
    const sent: Array<{ id: string; channels: TChannel[] }> = [];
    const retry: Array<{ id: string; until: string; reason: string }> = [];
    const dead: Array<{ row: ClaimedRow; reason: string }> = [];
    for (const row of rows) {
      const channels = plan.get(row.id)!;
      const o = outcomes.get(row.id)!;
      if (channels.every((c) => o.done.includes(c))) {
        sent.push({ id: row.id, channels });
        continue;
      }
      const reason = o.errors.join("; ") || "not delivered";
      const attempts = row.attempts + 1;
      if (o.permanent || attempts >= this.options.maxAttempts) dead.push({ row, reason });
      else {
        this.stats.retries++;
        retry.push({
          id: row.id,
          until: new Date(
            now.getTime() + backoffMs(attempts, o.retryAfterMs, this.options.backoffBaseMs),
          ).toISOString(),
          reason,
        });
      }
    }
    if (sent.length > 0) {
      await this.execute(
        `update ${T("delivery")} d set status = 'sent', reason = null, channels = v.channels, sent_at = ?,
           attempts = attempts + 1, claimed_until = null, next_attempt_at = null, updated_at = ?
         from jsonb_to_recordset(?::jsonb) as v(id uuid, channels jsonb) where d.id = v.id`,
        [now, now, JSON.stringify(sent)],
      );
    }
    if (retry.length > 0) {
      await this.execute(
        `update ${T("delivery")} d set status = 'failed', reason = v.reason, next_attempt_at = v.until,
           attempts = attempts + 1, claimed_until = null, updated_at = ?
         from jsonb_to_recordset(?::jsonb) as v(id uuid, until timestamptz, reason text) where d.id = v.id`,
        [now, JSON.stringify(retry)],
      );
    }
    if (dead.length > 0) {
      await this.service.transaction(async (em) => {
        await sql(
          em,
          `update ${T("delivery")} d set status = 'deadLettered', reason = v.reason, attempts = attempts + 1,
               claimed_until = null, next_attempt_at = null, updated_at = ?
             from jsonb_to_recordset(?::jsonb) as v(id uuid, reason text) where d.id = v.id`,
          [now, JSON.stringify(dead.map((d) => ({ id: d.row.id, reason: d.reason })))],
        );
        for (const d of dead) {
          this.service.recordEvent(em, notificationDeadLettered, {
            requestId: d.row.request_id,
            userId: d.row.user_id,
            templateId: requests.get(d.row.request_id)!.template_id,
            reason: d.reason.slice(0, 1000),
          });
        }
      });
      this.logger.warn("Notifications dead-lettered", { count: dead.length, reason: dead[0]!.reason });
    }
  }

  /** One digest per person for everything gathered: rendered with the digest template and sent like one message. */
  private async sendDigests(
    digests: Map<string, ClaimedRow[]>,
    requests: Map<string, RequestRow>,
    people: Map<string, Person>,
  ) {
    if (digests.size === 0) return;
    const now = this.options.now();
    // A digest is a request of its own, so its delivery has the same guarantees; the rows it gathers are marked
    // sent (as part of it) in the same transaction.
    await this.service.transaction(async (em) => {
      const execute = (query: string, params: unknown[]) => sql(em, query, params);
      for (const [userId, rows] of digests) {
        const person = people.get(userId)!;
        const items = rows.map((r) => {
          const request = requests.get(r.request_id)!;
          return { subject: this.render(request, person).subject, templateId: request.template_id };
        });
        const requestId = randomUUID();
        const dedupeKey = `digest:${userId}:${rows
          .map((r) => r.id)
          .sort()
          .join(",")}`.slice(0, 200);
        await execute(
          `insert into ${T("request")} (id, dedupe_key, template_id, data, actions, priority, kind, source, recipients, created_at)
           values (?, ?, 'notifications.digest', ?::jsonb, null, 'normal', null, 'notifications', 1, ?)
           on conflict (dedupe_key) do nothing`,
          [requestId, dedupeKey, JSON.stringify({ count: items.length, items, generatedAt: now.toISOString() }), now],
        );
        await execute(
          `insert into ${T("delivery")} (id, request_id, user_id, dedupe_key, priority, status, attempts, next_attempt_at,
             digest, created_at, updated_at)
           values (?, ?, ?, ?, 'urgent', 'queued', 0, ?, false, ?, ?) on conflict (user_id, dedupe_key) do nothing`,
          [randomUUID(), requestId, userId, dedupeKey, now, now, now],
        );
        await execute(
          `update ${T("delivery")} set status = 'sent', reason = 'in digest', sent_at = ?, claimed_until = null,
             next_attempt_at = null, updated_at = ? where id = any(?::uuid[])`,
          [now, now, `{${rows.map((r) => r.id).join(",")}}`],
        );
      }
    });
    this.wake();
  }
}
