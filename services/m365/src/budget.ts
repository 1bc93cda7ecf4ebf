import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  type BucketShape,
  bucketShape,
  LIMIT_CLASSES,
  type LimitClass,
  PUBLISHED_LIMITS,
  type SendWindow,
} from "./domain/limit-classes.ts";

/**
 * Sleeps until performance.now() has reached `target`. Node's timers count from the event loop's cached time, so
 * a timer set late in a busy turn fires that much early (measured: up to 1.3 ms early for a 5 ms timer after 0-3 ms
 * of work); a send window that went by such a timer put 3 calls into one of Graph's periods (5 429s a fan-out run).
 */
export async function sleepUntil(target: number, signal?: AbortSignal): Promise<void> {
  for (let left = target - performance.now(); left > 0; left = target - performance.now()) {
    if (left >= 1) await sleep(left, undefined, { signal });
    else {
      // Less than the timers' resolution left: yield to I/O until it has passed.
      signal?.throwIfAborted();
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/** Runs one SQL statement with `?` placeholders and returns its rows (the ORM's connection, or pg in tests). */
export type SqlExecutor = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

export type BudgetObserver = {
  granted?(limitClass: LimitClass, cost: number, waitedMs: number): void;
  paused?(limitClass: LimitClass, ms: number): void;
};

export type BudgetOptions = {
  execute: SqlExecutor;
  tenant: string;
  schema?: string;
  shapes?: Partial<Record<LimitClass, BucketShape>>;
  /** Classes kept by a window of sends (sendWindow) instead of their bucket; their grants carry a slot to settle. */
  windows?: Partial<Record<LimitClass, SendWindow>>;
  observer?: BudgetObserver;
  /** Longest single sleep before asking again (a pause may be lifted or the configuration changed). */
  maxSleepMs?: number;
};

export type Grant = {
  limitClass: LimitClass;
  scope: string;
  cost: number;
  waitedMs: number;
  grantedAtMs: number;
  /** For a window class: the send's place in the window, to be settled with Graph's answer (BudgetStore.settle). */
  slot?: Slot;
};

/** One send of a window class: its id in the row's list, the database time of the grant statement, and when
 * (performance.now()) that statement was sent, so that a local duration can be turned into a database time. */
export type Slot = { limitClass: LimitClass; scope: string; id: string; statementDbMs: number; askedAt: number };

/** What became of a send: `counted` unless Graph refused it (429), with when it left and when its answer came. */
export type SlotOutcome = { counted: boolean; sentAt: number; answeredAt: number };

export function defaultShapes(share = 0.9): Record<LimitClass, BucketShape> {
  return Object.fromEntries(LIMIT_CLASSES.map((c) => [c, bucketShape(PUBLISHED_LIMITS[c], share)])) as Record<
    LimitClass,
    BucketShape
  >;
}

/**
 * Cluster-wide token buckets in PostgreSQL: one row per (tenant, class, scope). A take is one UPDATE that refills
 * from the database clock and subtracts the cost only when enough tokens are there, so any number of replicas
 * together never take more than the bucket allows. A throttled answer pauses the row for every replica.
 */
export class BudgetStore {
  readonly tenant: string;
  private readonly execute: SqlExecutor;
  private readonly table: string;
  private readonly shapes: Record<LimitClass, BucketShape>;
  private readonly observer: BudgetObserver;
  private readonly maxSleepMs: number;
  private readonly known = new Set<string>();
  /** Per bucket, the callers of this process queue here so that only the first one asks the database. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Pauses this process asked for (performance.now() when they end): a reservation made before one is given up. */
  private readonly localPauses = new Map<string, number>();
  private readonly windows: Partial<Record<LimitClass, SendWindow>>;
  /** Sends of window classes this process has in flight: a taker waiting for one is woken by its settle. */
  private readonly inFlight = new Map<string, { settled: Promise<void>; resolve: () => void }>();
  /** Fastest round trip seen per window class (admitted sends): half of it is taken off each answer's time. */
  private readonly fastestRoundTrip = new Map<LimitClass, number>();
  /** This process's recent counted sends: the latest local time (performance.now()) Graph can have counted each. */
  private readonly localBounds = new Map<string, number>();

  constructor(options: BudgetOptions) {
    this.execute = options.execute;
    this.tenant = options.tenant;
    this.table = `"${options.schema ?? "m365"}"."budget"`;
    this.shapes = { ...defaultShapes(), ...options.shapes };
    this.observer = options.observer ?? {};
    this.maxSleepMs = options.maxSleepMs ?? 5000;
    this.windows = options.windows ?? {};
  }

  shapeOf(limitClass: LimitClass): BucketShape {
    return this.shapes[limitClass];
  }

  /** Creates the row, or brings its capacity and rate up to date with this node's configuration. */
  async ensure(limitClass: LimitClass, scope = ""): Promise<void> {
    const key = `${limitClass}\u0000${scope}`;
    if (this.known.has(key)) return;
    const { capacity, refillPerSecond } = this.shapes[limitClass];
    await this.execute(
      `insert into ${this.table} (tenant, limit_class, scope, tokens, capacity, refill_per_second, refilled_at)
       values (?, ?, ?, ?, ?, ?, clock_timestamp())
       on conflict (tenant, limit_class, scope) do update
         set capacity = excluded.capacity, refill_per_second = excluded.refill_per_second,
             tokens = least(${this.table}.tokens, excluded.capacity)
         where ${this.table}.capacity <> excluded.capacity or ${this.table}.refill_per_second <> excluded.refill_per_second`,
      [this.tenant, limitClass, scope, capacity, capacity, refillPerSecond],
    );
    this.known.add(key);
  }

  /**
   * One attempt: granted (with the database time of the grant, which may lie up to one request's refill ahead: a
   * reservation, see below) or how long to wait before asking again.
   *
   * A bucket that is not in debt grants at once, even when it holds less than `cost`: the tokens go negative and the
   * grant's time is when a plain bucket would have had them (now + deficit / rate). The caller sleeps until then.
   * Grants thus fall on the same instants as a plain bucket asked continuously, so the bucket's bound is unchanged,
   * but the next asker's database round trip and timer lateness no longer delay the following grant (a plain bucket
   * of capacity 1 lost every millisecond between "full" and the next ask). Only one reservation is open per bucket at
   * a time (cluster-wide): the next asker is refused until the debt is repaid, i.e. until the previous grant's time.
   */
  async tryTake(
    limitClass: LimitClass,
    cost: number,
    scope = "",
  ): Promise<{ granted: true; atMs: number; waitMs: number } | { granted: false; waitMs: number }> {
    await this.ensure(limitClass, scope);
    // clock_timestamp(), not now(): now() is when the statement's transaction began, which after a wait on the
    // row lock can be earlier than the refilled_at another replica just wrote.
    const available = `least(capacity, tokens + refill_per_second * greatest(0, extract(epoch from clock_timestamp() - refilled_at)))`;
    const rows = await this.execute(
      `update ${this.table}
       set tokens = ${available} - ?, refilled_at = greatest(refilled_at, clock_timestamp())
       where tenant = ? and limit_class = ? and scope = ?
         and (paused_until is null or paused_until <= clock_timestamp())
         and ${available} >= 0 and capacity >= ?
       returning (extract(epoch from refilled_at) * 1000)::float8 as at_ms,
                 (greatest(0, -tokens) / refill_per_second * 1000)::float8 as wait_ms`,
      [cost, this.tenant, limitClass, scope, cost],
    );
    if (rows.length > 0) {
      const waitMs = Number(rows[0].wait_ms);
      return { granted: true, atMs: Number(rows[0].at_ms) + waitMs, waitMs };
    }
    const [state] = await this.execute(
      `select ${available}::float8 as available, refill_per_second::float8 as rate, capacity::float8 as capacity,
              coalesce(extract(epoch from paused_until - clock_timestamp()) * 1000, 0)::float8 as paused_ms
       from ${this.table} where tenant = ? and limit_class = ? and scope = ?`,
      [this.tenant, limitClass, scope],
    );
    if (!state) {
      this.known.delete(`${limitClass}\u0000${scope}`);
      return { granted: false, waitMs: 0 };
    }
    if (cost > Number(state.capacity)) {
      throw new Error(`A cost of ${cost} can never fit the ${limitClass} budget (capacity ${state.capacity})`);
    }
    const pausedMs = Number(state.paused_ms);
    // In debt: the open reservation's time, when the bucket is back at zero.
    const refillMs = (-Number(state.available) / Number(state.rate)) * 1000;
    return { granted: false, waitMs: Math.max(pausedMs, refillMs, 1) };
  }

  /**
   * Waits (sleeping, never spinning) until `cost` tokens of the class are taken for this caller. Callers of one
   * process wait their turn in order, so a refill wakes one asker per replica, not every waiting caller.
   */
  take(limitClass: LimitClass, cost = 1, scope = "", signal?: AbortSignal): Promise<Grant> {
    const key = `${limitClass}\u0000${scope}`;
    const started = performance.now();
    const previous = this.queues.get(key) ?? Promise.resolve();
    // The next caller's turn: when this one is done, or for a window class as soon as its send has its time (it
    // sleeps till then, while the next one already asks the database and waits for its own gate's answer).
    let release = () => {};
    const turn = new Promise<void>((resolve) => {
      release = resolve;
    });
    const mine = previous
      .then(() =>
        this.windows[limitClass]
          ? this.takeSlotNow(limitClass, scope, started, signal, release)
          : this.takeNow(limitClass, cost, scope, started, signal),
      )
      .finally(release);
    this.queues.set(key, turn);
    turn.then(() => {
      if (this.queues.get(key) === turn) this.queues.delete(key);
    });
    return mine;
  }

  private async takeNow(
    limitClass: LimitClass,
    cost: number,
    scope: string,
    started: number,
    signal?: AbortSignal,
  ): Promise<Grant> {
    const key = `${limitClass}\u0000${scope}`;
    for (;;) {
      const attempt = await this.tryTake(limitClass, cost, scope);
      if (attempt.granted) {
        // A reservation: sleep until its time (no jitter: the time is the caller's own).
        if (attempt.waitMs > 0) await sleepUntil(performance.now() + attempt.waitMs, signal);
        // A 429 this process saw while the caller slept pauses the class: the reserved slot is given up.
        const pausedUntil = this.localPauses.get(key) ?? 0;
        if (pausedUntil > performance.now()) continue;
        const waitedMs = performance.now() - started;
        this.observer.granted?.(limitClass, cost, waitedMs);
        return { limitClass, scope, cost, waitedMs, grantedAtMs: attempt.atMs };
      }
      // A little jitter so that replicas woken by the same refill do not all ask at the same instant.
      const jitter = Math.random() * Math.min(20, attempt.waitMs * 0.1);
      await sleep(Math.min(this.maxSleepMs, attempt.waitMs + jitter), undefined, { signal });
    }
  }

  /**
   * A window class: the row keeps its last `limit` sends in grant order, each with the time it was granted for
   * (`at`) and, once answered, the latest database time at which Graph can have counted it (`bound`). A new send is
   * granted for max(now, the pause, bound of the send `limit` places back + period): each chain of every `limit`-th
   * send is a period apart at Graph, so any period holds at most `limit` arrivals, whatever the latencies were.
   * While that send is still in flight the taker waits (for its settle, if it is this process's, else asking again
   * every 2 ms). A send never settled (its replica died) counts as arrived `inFlightLimitMs` after its grant.
   */
  private async takeSlotNow(
    limitClass: LimitClass,
    scope: string,
    started: number,
    signal?: AbortSignal,
    granted: () => void = () => {},
  ): Promise<Grant> {
    const window = this.windows[limitClass]!;
    const key = `${limitClass}\u0000${scope}`;
    await this.ensure(limitClass, scope);
    const inFlightLimitMs = Math.max(10 * window.periodMs, 1000);
    for (;;) {
      signal?.throwIfAborted();
      const id = randomUUID();
      const askedAt = performance.now();
      const rows = await this.execute(
        `with cur as (
           select sends, (extract(epoch from clock_timestamp()) * 1000)::float8 as now_ms,
                  coalesce((extract(epoch from paused_until) * 1000)::float8, 0) as paused_ms
           from ${this.table} where tenant = ? and limit_class = ? and scope = ? for update),
         gated as (
           select cur.*,
                  case when jsonb_array_length(sends) < ? then null else sends -> (jsonb_array_length(sends) - ?) end as gate
           from cur),
         timed as (
           select gated.*,
                  case when gate is null then 0
                       when gate ->> 'bound' is not null then (gate ->> 'bound')::float8 + ?
                       when (gate ->> 'at')::float8 + ? <= now_ms then (gate ->> 'at')::float8 + ? + ?
                  end as gate_ms
           from gated),
         granted as (select timed.*, greatest(now_ms, paused_ms, gate_ms) as at_ms from timed where gate_ms is not null),
         taken as (
           update ${this.table} b
           set sends = (select coalesce(jsonb_agg(e order by o), '[]'::jsonb)
                        from (select e, o from jsonb_array_elements(granted.sends || jsonb_build_array(jsonb_build_object('id', ?::text, 'at', granted.at_ms)))
                                with ordinality as x(e, o) order by o desc limit ?) kept)
           from granted
           where b.tenant = ? and b.limit_class = ? and b.scope = ?
           returning granted.at_ms, granted.now_ms, greatest(granted.now_ms, granted.paused_ms) as unpaused_ms,
                     granted.gate ->> 'id' as gate_id)
         -- Not granted: which send is in flight at the gate, and when it counts as arrived anyway (one statement).
         select taken.*, timed.gate ->> 'id' as wait_for,
                ((timed.gate ->> 'at')::float8 + ? - timed.now_ms)::float8 as expires_ms
         from timed left join taken on true`,
        [
          this.tenant,
          limitClass,
          scope,
          window.limit,
          window.limit,
          window.periodMs,
          inFlightLimitMs,
          inFlightLimitMs,
          window.periodMs,
          id,
          window.limit,
          this.tenant,
          limitClass,
          scope,
          inFlightLimitMs,
        ],
      );
      if (rows.length === 0) {
        // No row (swept, or the table emptied by a crash of PostgreSQL): made again.
        this.known.delete(key);
        await this.ensure(limitClass, scope);
        continue;
      }
      if (rows[0].at_ms !== null) {
        granted();
        const answered = performance.now();
        const atMs = Number(rows[0].at_ms);
        const nowMs = Number(rows[0].now_ms);
        // The gate is a send of this process: its bound is known on this clock, without the database round trips
        // that the conversion to the database's clock has to assume (they were 3 ms at the median on a busy node).
        const localBound = rows[0].gate_id ? this.localBounds.get(String(rows[0].gate_id)) : undefined;
        const waitMs =
          localBound === undefined
            ? atMs - nowMs
            : Math.max(Number(rows[0].unpaused_ms) - nowMs, localBound + window.periodMs - answered);
        let resolve = () => {};
        const settled = new Promise<void>((r) => {
          resolve = r;
        });
        this.inFlight.set(id, { settled, resolve });
        const slot: Slot = { limitClass, scope, id, statementDbMs: nowMs, askedAt };
        // Not sent after all (aborted, or a 429 this process saw while the caller slept paused the class): the
        // slot is settled as not counted (it keeps its place, see settle).
        const giveBack = () => this.settle(slot, { counted: false, sentAt: 0, answeredAt: 0 });
        if (waitMs > 0)
          await sleepUntil(answered + waitMs, signal).catch(async (error) => {
            await giveBack();
            throw error;
          });
        if ((this.localPauses.get(key) ?? 0) > performance.now()) {
          await giveBack();
          continue;
        }
        const waitedMs = performance.now() - started;
        this.observer.granted?.(limitClass, 1, waitedMs);
        return { limitClass, scope, cost: 1, waitedMs, grantedAtMs: atMs, slot };
      }
      const state = rows[0];
      const local = state.wait_for ? this.inFlight.get(String(state.wait_for)) : undefined;
      const expiresMs = Math.max(1, Number(state.expires_ms));
      if (local) await Promise.race([local.settled, sleep(expiresMs, undefined, { signal })]);
      else await sleep(Math.min(2, expiresMs), undefined, { signal });
    }
  }

  /**
   * Records what became of a window class's send. Counted: the latest database time Graph can have counted it, its
   * answer's time less half the fastest round trip seen (one way at its fastest: the answer's way back takes about
   * that at least, the next request's way there adds its own); the send `limit` places later keeps a period from
   * it. Not counted (a 429, or never sent): it stays in the window as if it had arrived at its granted time.
   */
  async settle(slot: Slot, outcome: SlotOutcome): Promise<void> {
    try {
      let bound: number | null = null;
      if (outcome.counted) {
        const roundTrip = outcome.answeredAt - outcome.sentAt;
        const fastest = Math.min(this.fastestRoundTrip.get(slot.limitClass) ?? Infinity, roundTrip);
        this.fastestRoundTrip.set(slot.limitClass, fastest);
        // The database's clock at the answer is at most its clock at the grant statement plus the local time since
        // that statement was sent (the statement ran after it left).
        const margin = Math.min(fastest / 2, 5);
        bound = slot.statementDbMs + (outcome.answeredAt - slot.askedAt) - margin;
        this.localBounds.set(slot.id, outcome.answeredAt - margin);
        if (this.localBounds.size > 256) this.localBounds.delete(this.localBounds.keys().next().value!);
      }
      // Not counted: the send keeps its place as if it had arrived at its granted time (it never arrives). Taken out,
      // it would move every later send onto another gate, and a later send granted before an earlier one (each
      // waits for its own gate) could then share a period with two others.
      await this.execute(
        `update ${this.table}
         set sends = (select coalesce(jsonb_agg(case when e ->> 'id' = ?
                                                     then e || jsonb_build_object('bound', coalesce(?::float8, (e ->> 'at')::float8))
                                                     else e end
                                                order by o), '[]'::jsonb)
                      from jsonb_array_elements(sends) with ordinality as x(e, o))
         where tenant = ? and limit_class = ? and scope = ?`,
        [slot.id, bound, this.tenant, slot.limitClass, slot.scope],
      );
    } finally {
      this.inFlight.get(slot.id)?.resolve();
      this.inFlight.delete(slot.id);
    }
  }

  /**
   * Takes `cost` from the bucket of each scope (e.g. one per mailbox) of a class: all buckets that have the tokens
   * are charged in one statement; the few that are short (or paused) wait their turn one by one. A $batch of 20
   * mailbox reads costs one statement instead of forty.
   */
  async takeEach(limitClass: LimitClass, scopes: readonly string[], cost = 1): Promise<void> {
    const costs = new Map<string, number>();
    for (const scope of scopes) costs.set(scope, (costs.get(scope) ?? 0) + cost);
    if (costs.size === 0) return;
    const { capacity, refillPerSecond } = this.shapes[limitClass];
    const available = `least(b.capacity, b.tokens + b.refill_per_second * greatest(0, extract(epoch from clock_timestamp() - b.refilled_at)))`;
    // One upsert per distinct cost (nearly always one): a bucket not there yet is full (sweepIdleScopes removes
    // only buckets full again), so it is created already charged; one that is there is charged when it has the
    // tokens and is not paused. Insert-then-update wrote each new mailbox's row twice (a first sync: 100,000 of
    // them), and the update's `scope in (…)` needed fresh statistics (an ANALYZE as the table grew); the conflict
    // check is a probe of the primary key whatever the statistics say. A changed configuration reaches existing
    // rows through ensure() on the slow path below, as before.
    const byCost = new Map<number, string[]>();
    for (const [scope, c] of costs) byCost.set(c, [...(byCost.get(c) ?? []), scope]);
    const granted: Array<Record<string, unknown>> = [];
    for (const [c, scopesOfCost] of byCost) {
      // A cost no bucket can hold: the slow path below says so.
      if (c > capacity) continue;
      // Rows are locked in the order given: sorted, two calls sharing mailboxes cannot each hold one the other waits
      // for (a deadlock, which an `update … where scope in (…)` avoided by locking in index order).
      scopesOfCost.sort();
      granted.push(
        ...(await this.execute(
          `insert into ${this.table} as b (tenant, limit_class, scope, tokens, capacity, refill_per_second, refilled_at)
           select ?, ?, s.scope, ?, ?, ?, clock_timestamp() from jsonb_array_elements_text(?::jsonb) as s(scope)
           on conflict (tenant, limit_class, scope) do update
             set tokens = ${available} - ?, refilled_at = greatest(b.refilled_at, clock_timestamp())
             where (b.paused_until is null or b.paused_until <= clock_timestamp()) and ${available} >= ?
           returning scope`,
          [this.tenant, limitClass, capacity - c, capacity, refillPerSecond, JSON.stringify(scopesOfCost), c, c],
        )),
      );
    }
    for (const row of granted) {
      const scope = String(row.scope);
      this.known.add(`${limitClass}\u0000${scope}`);
      this.observer.granted?.(limitClass, costs.get(scope)!, 0);
      costs.delete(scope);
    }
    await Promise.all([...costs].map(([scope, c]) => this.take(limitClass, c, scope)));
  }

  /**
   * Removes per-scope buckets (one per mailbox, per team) that have refilled completely and are not paused: such a
   * bucket is exactly what a new one would be, so nothing is lost, and a first directory sync does not leave
   * 100,000 rows behind. The app-wide buckets (scope '') stay. Returns how many were removed.
   */
  async sweepIdleScopes(): Promise<number> {
    const rows = await this.execute(
      `delete from ${this.table}
       where tenant = ? and scope <> ''
         and (paused_until is null or paused_until <= clock_timestamp())
         -- Full again: the time to refill from its tokens, a debt (a reservation's negative tokens) included.
         and refilled_at < clock_timestamp() - make_interval(secs => (capacity - least(tokens, capacity)) / refill_per_second)
         -- A send window (per team) remembers its last sends: kept while they are recent.
         and (sends = '[]'::jsonb or (sends -> -1 ->> 'at')::float8 < extract(epoch from clock_timestamp()) * 1000 - 600000)
       returning scope, limit_class`,
      [this.tenant],
    );
    for (const row of rows) this.known.delete(`${String(row.limit_class)}\u0000${String(row.scope)}`);
    return rows.length;
  }

  /**
   * Graph said 429 (or 503) with this Retry-After: nobody draws on the class until it has passed. A debt (an open
   * reservation) is kept, so the first grant after the pause comes after it.
   *
   * `heldMs`: the throttled request keeps its grant and is sent again when the pause ends; it was granted that long
   * before now. The bucket's clock then moves by heldMs + ms (the refill of that time is not credited), which is what
   * it would be had the grant been made at the retry: the next grants keep their distance from the retry.
   */
  async pause(limitClass: LimitClass, ms: number, scope = "", heldMs = 0): Promise<void> {
    await this.ensure(limitClass, scope);
    const key = `${limitClass}\u0000${scope}`;
    this.localPauses.set(key, Math.max(this.localPauses.get(key) ?? 0, performance.now() + ms));
    const available = `least(capacity, tokens + refill_per_second * greatest(0, extract(epoch from clock_timestamp() - refilled_at)))`;
    await this.execute(
      `update ${this.table}
       set paused_until = greatest(coalesce(paused_until, clock_timestamp()), clock_timestamp() + make_interval(secs => ?)),
           tokens = least(${available}, 0) - refill_per_second * ?,
           refilled_at = greatest(refilled_at, clock_timestamp() + make_interval(secs => ?))
       where tenant = ? and limit_class = ? and scope = ?`,
      [ms / 1000, Math.max(0, heldMs) / 1000, ms / 1000, this.tenant, limitClass, scope],
    );
    this.observer.paused?.(limitClass, ms);
  }
}
