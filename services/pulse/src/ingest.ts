// Answering at volume: concurrent submissions are group-committed, one SQL statement per batch, while each
// submission stays all-or-nothing with its own outcome (201, 403 not invited, 409 closed or replayed).
//
// A batch claims its invitations (open wave, inside the person's window, not answered yet) and writes the claimed
// submissions' answers in ONE statement (data-modifying CTEs: atomic, one round trip, one commit). Per wave:
// - at least minGroupSize submissions claimed in the batch: straight into `answers`, shuffled, with fresh random
//   ids. Their rows share a transaction (xmin) only with that many answered flags, the same k-set a buffer move
//   would give, and no row of `answers` is ever linked to one person's flag, not even for a moment;
// - fewer: into `answer_buffer` as before, moved in a later transaction once minGroupSize submissions wait.
// The wave row is share-locked for the statement, so a concurrent close either waits for the batch (and moves its
// buffered rows) or makes the batch see the wave closed (409): no answer lands in a closed wave.
//
// Answers are checked against the wave's questions before they join a batch (nothing in the statement can fail
// for one submission's content). Should a batch statement fail anyway (a deadlock between two batches holding the
// same person, a lost connection), each of its submissions is retried alone, so one failure never fails its
// neighbours and nothing is half-written.
import { randomUUID } from "node:crypto";
import { ConflictError, ForbiddenError } from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import type { SubmittedAnswer } from "./domain/answers.ts";
import { sql, T } from "./store.ts";

export type Submission = {
  userId: string;
  waveId: string;
  answers: readonly SubmittedAnswer[];
  /** The wave's minimum group size: the smallest set of submissions written straight into `answers`. */
  minGroupSize: number;
};

type Pending = Submission & { resolve(buffered: boolean): void; reject(error: unknown): void };

export type IngestOptions = {
  /** Batches in flight at once (each on its own connection). */
  parallel?: number;
  /** Submissions per batch at most. */
  maxBatch?: number;
  /** Called with the waves that received buffered answers, after the batch committed. */
  afterBuffered?: (waveIds: string[]) => Promise<void> | void;
};

export class AnswerIngest {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly parallel: number;
  private readonly maxBatch: number;
  private readonly em: () => EntityManager;
  private readonly afterBuffered: IngestOptions["afterBuffered"];

  constructor(em: () => EntityManager, options: IngestOptions = {}) {
    this.em = em;
    this.parallel = options.parallel ?? 2;
    this.maxBatch = options.maxBatch ?? 500;
    this.afterBuffered = options.afterBuffered;
  }

  /** Resolves once the submission is committed: true when its answers wait in the buffer. */
  submit(submission: Submission): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...submission, resolve, reject });
      this.schedule();
    });
  }

  private schedule() {
    if (this.scheduled || this.inFlight >= this.parallel || this.queue.length === 0) return;
    this.scheduled = true;
    // Let submissions arriving in the same turn of the event loop join this batch.
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight >= this.parallel || this.queue.length === 0) return;
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight++;
      this.run(batch).finally(() => {
        this.inFlight--;
        this.schedule();
      });
      this.schedule();
    });
  }

  private async run(batch: Pending[]) {
    let settled: Settled;
    try {
      settled = await commitBatch(this.em(), batch);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One by one, so whatever failed fails alone.
      settled = { buffered: new Set(), settle: [] };
      for (const one of batch) {
        try {
          const alone = await commitBatch(this.em(), [one]);
          for (const w of alone.buffered) settled.buffered.add(w);
          settled.settle.push(...alone.settle);
        } catch (e) {
          one.reject(e);
        }
      }
    }
    // Buffered answers are moved (when enough wait) before the submitters hear back: what they sent is where the
    // next reader expects it.
    if (settled.buffered.size > 0 && this.afterBuffered) {
      await Promise.resolve(this.afterBuffered([...settled.buffered])).catch(() => undefined);
    }
    for (const settle of settled.settle) settle();
  }
}

type Settled = { buffered: Set<string>; settle: Array<() => void> };

/**
 * One statement for the whole batch; throws when the statement fails. Returns the waves that received buffered
 * answers and how to settle each submission (resolve, or reject with its own 403/409).
 */
async function commitBatch(em: EntityManager, batch: Pending[]): Promise<Settled> {
  // The same person twice in one batch (a double click): the first claims, the rest are told why not below.
  const first = new Map<string, number>();
  const submissions: Array<{ n: number; wave_id: string; user_id: string; k: number; submission: string }> = [];
  const answers: Array<{ n: number; question_id: string; value: number | null; comment: string | null }> = [];
  batch.forEach((s, n) => {
    const key = `${s.waveId}:${s.userId}`;
    if (first.has(key)) return;
    first.set(key, n);
    submissions.push({ n, wave_id: s.waveId, user_id: s.userId, k: s.minGroupSize, submission: randomUUID() });
    for (const a of s.answers) {
      answers.push({ n, question_id: a.questionId, value: a.value ?? null, comment: a.comment ?? null });
    }
  });
  const day = new Date().toISOString().slice(0, 10);
  const columns = "wave_id, question_id, day, department, office, tenure_band, manager_path, value, comment";
  const claimed = await sql<{ n: number; wave_id: string; direct: boolean }>(
    em,
    `with input as (
       select * from jsonb_to_recordset(?::jsonb) as s(n int, wave_id uuid, user_id uuid, k int, submission uuid)
     ), open_waves as (
       select id from ${T("waves")} where id in (select wave_id from input) and status = 'open' for share
     ), claimed as (
       update ${T("invitations")} i set answered = true from input s
       where i.wave_id = s.wave_id and i.user_id = s.user_id and i.wave_id in (select id from open_waves)
         and i.closes_at > now() and not i.answered
       returning s.n, s.wave_id, s.k, s.submission, i.department, i.office, i.tenure_band, i.manager_path
     ), per_wave as (
       select wave_id, count(*) >= min(k) as direct from claimed group by wave_id
     ), answer_rows as (
       select c.submission, c.wave_id, a.question_id, ?::varchar as day, c.department, c.office, c.tenure_band,
              c.manager_path, a.value, a.comment, p.direct
       from claimed c join per_wave p on p.wave_id = c.wave_id
       join jsonb_to_recordset(?::jsonb) as a(n int, question_id uuid, value int, comment text) on a.n = c.n
     ), direct as (
       insert into ${T("answers")} (id, ${columns})
       select gen_random_uuid(), ${columns} from answer_rows where direct order by random()
     ), buffered as (
       insert into ${T("answer_buffer")} (id, submission, ${columns})
       select gen_random_uuid(), submission, ${columns} from answer_rows where not direct
     )
     select c.n, c.wave_id, p.direct from claimed c join per_wave p on p.wave_id = c.wave_id`,
    [JSON.stringify(submissions), day, JSON.stringify(answers)],
  );
  const outcome = new Map(claimed.map((c) => [c.n, c]));
  const refused = batch.map((_, n) => n).filter((n) => !outcome.has(n));
  const why = new Map<number, { invited: boolean; answered: boolean; closed: boolean }>();
  if (refused.length > 0) {
    const rows = await sql<{ n: number; invited: boolean; answered: boolean; closed: boolean }>(
      em,
      `select s.n, i.id is not null as invited, coalesce(i.answered, false) as answered,
              coalesce(w.status <> 'open' or i.closes_at <= now(), false) as closed
       from jsonb_to_recordset(?::jsonb) as s(n int, wave_id uuid, user_id uuid)
       left join ${T("invitations")} i on i.wave_id = s.wave_id and i.user_id = s.user_id
       left join ${T("waves")} w on w.id = i.wave_id`,
      [JSON.stringify(refused.map((n) => ({ n, wave_id: batch[n]!.waveId, user_id: batch[n]!.userId })))],
    );
    for (const r of rows) why.set(r.n, r);
  }
  const buffered = new Set<string>();
  const settle = batch.map((s, n) => {
    const done = outcome.get(n);
    if (done) {
      if (!done.direct) buffered.add(done.wave_id);
      return () => s.resolve(!done.direct);
    }
    const reason = why.get(n);
    const error = !reason?.invited
      ? new ForbiddenError("You were not invited to this wave")
      : reason.closed
        ? new ConflictError("This wave is closed: answers are no longer accepted", "WAVE_CLOSED")
        : new ConflictError("You have already answered this wave", "ALREADY_ANSWERED");
    return () => s.reject(error);
  });
  return { buffered, settle };
}
