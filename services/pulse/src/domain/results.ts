// What the results API shows for one closed wave, built only from released unions of cells (disclosure.ts).
import {
  type Aggregate,
  type Atom,
  type Attributes,
  aggregate,
  DIMENSIONS,
  type Dimension,
  type DisclosureRules,
  enps,
  type Filter,
  Partition,
} from "./disclosure.ts";

export type QuestionKind = "enps" | "scale" | "comment";
export type QuestionScale = { kind: QuestionKind; min: number; max: number };

/** Per question of a closed wave: its atoms (answers grouped by locked attributes, from SQL). */
export type WaveAtoms = {
  waveId: string;
  closed: boolean;
  questions: ReadonlyMap<string, { scale: QuestionScale; atoms: readonly Atom[] }>;
};

export type QuestionResult = {
  questionId: string;
  kind: QuestionKind;
  responses: number;
  mean: number | null;
  distribution: Record<string, number> | null;
  enps: ReturnType<typeof enps> | null;
};

/** Released partitions of one wave, computed once and reused for every filter. */
export class WaveDisclosure {
  readonly waveId: string;
  readonly #partitions = new Map<string, { scale: QuestionScale; partition: Partition }>();
  /** A closed wave never changes: released aggregates are remembered per question and filter (bounded). */
  readonly #memo = new Map<string, Aggregate | null>();

  constructor(wave: WaveAtoms, rules: DisclosureRules) {
    this.waveId = wave.waveId;
    // Nothing is released while a wave is open: the partitions stay empty.
    if (!wave.closed) return;
    for (const [questionId, { scale, atoms }] of wave.questions) {
      const partition =
        scale.kind === "comment"
          ? new Partition(atoms, rules.commentMinimum, false)
          : new Partition(atoms, rules.minGroupSize, true);
      this.#partitions.set(questionId, { scale, partition });
    }
  }

  /** The released aggregate of one question under a filter; null for suppressed and empty alike. */
  aggregate(questionId: string, filter: Filter): Aggregate | null {
    const entry = this.#partitions.get(questionId);
    if (!entry) return null;
    const key = `${questionId}|${filterKey(filter)}`;
    const known = this.#memo.get(key);
    if (known !== undefined) return known;
    const cells = entry.partition.select(filter);
    const result = cells ? aggregate(cells) : null;
    if (this.#memo.size > 50_000) this.#memo.clear();
    this.#memo.set(key, result);
    return result;
  }

  /** Which atoms' comments may be shown under a filter (null: none). */
  /** Whose attributes' comments may be shown under a filter (null: none). */
  commentMembers(questionId: string, filter: Filter): Attributes[] | null {
    const entry = this.#partitions.get(questionId);
    if (!entry || entry.scale.kind !== "comment") return null;
    const cells = entry.partition.select(filter);
    return cells ? cells.flatMap((c) => c.members) : null;
  }

  questionResult(questionId: string, filter: Filter): QuestionResult | null {
    const entry = this.#partitions.get(questionId);
    if (!entry || entry.scale.kind === "comment") return null;
    const agg = this.aggregate(questionId, filter);
    if (!agg) return null;
    const distribution: Record<string, number> = {};
    for (let v = entry.scale.min; v <= entry.scale.max; v++) distribution[v] = agg.histogram.get(v) ?? 0;
    return {
      questionId,
      kind: entry.scale.kind,
      responses: agg.count,
      mean: Math.round((agg.sum / agg.count) * 100) / 100,
      distribution,
      enps: entry.scale.kind === "enps" ? enps(agg.histogram) : null,
    };
  }

  questionIds(): string[] {
    return [...this.#partitions.keys()];
  }

  /** Heatmap rows: one per value of a dimension, each cell a released result or null. */
  heatmap(dimension: Dimension, values: readonly string[], base: Filter = {}) {
    return values.map((value) => ({
      value,
      results: this.questionIds().map(
        (questionId) => this.questionResult(questionId, { ...base, [dimension]: [value] }) ?? null,
      ),
    }));
  }
}

function filterKey(f: Filter): string {
  return JSON.stringify([f.department ?? null, f.office ?? null, f.tenureBand ?? null, f.subtree ?? null]);
}

export { DIMENSIONS };
