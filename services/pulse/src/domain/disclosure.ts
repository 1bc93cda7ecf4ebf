// Disclosure control for pulse results (docs/adr/0004-pulse-anonymity.md).
//
// Every figure Hearth shows for a closed wave is computed over a union of whole cells of one fixed partition of
// that wave's answers to one question. The partition is built once per (wave, question) from the answers' locked
// attributes: atoms (people sharing department, office, tenure band and reporting line) are merged bottom-up
// along department → office → tenure band → reporting line until every cell holds at least the minimum group
// size and is not unanimous. A filter whose answers are not exactly a union of whole cells is suppressed, and a
// suppressed result is the same `null` as an empty one. Any linear combination of released figures is therefore
// constant on each cell, so no difference of two results can isolate fewer people than a cell holds.
//
// Pure: no Moleculer, no ORM. The service aggregates answers per atom in SQL and hands the atoms to this module.

export const MIN_GROUP_FLOOR = 3;
export const MIN_GROUP_CEILING = 25;
export const DEFAULT_MIN_GROUP = 5;
export const DEFAULT_COMMENT_MIN = 10;

export type DisclosureRules = { minGroupSize: number; commentMinimum: number };

/** Validates configured thresholds; throws a message naming the field (the service maps it to a 4xx). */
export function disclosureRules(input: Partial<DisclosureRules> = {}): DisclosureRules {
  const minGroupSize = input.minGroupSize ?? DEFAULT_MIN_GROUP;
  if (!Number.isInteger(minGroupSize) || minGroupSize < MIN_GROUP_FLOOR || minGroupSize > MIN_GROUP_CEILING) {
    throw new RangeError(`minGroupSize must be an integer from ${MIN_GROUP_FLOOR} to ${MIN_GROUP_CEILING}`);
  }
  const commentMinimum = input.commentMinimum ?? Math.max(DEFAULT_COMMENT_MIN, minGroupSize);
  if (!Number.isInteger(commentMinimum) || commentMinimum < minGroupSize || commentMinimum > 100) {
    throw new RangeError(`commentMinimum must be an integer from minGroupSize (${minGroupSize}) to 100`);
  }
  return { minGroupSize, commentMinimum };
}

/** Attributes snapshotted for every invitee when the wave opened and locked for the wave. */
export type Attributes = {
  department: string;
  office: string;
  tenureBand: string;
  /** Ids of the person's managers, top first (never the person's own id). */
  managerPath: readonly string[];
};

export const DIMENSIONS = ["department", "office", "tenureBand"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** The answers of one wave to one question that share all attributes: what SQL groups by. */
export type Atom = {
  attributes: Attributes;
  count: number;
  sum: number;
  /** answer value -> how many answered it */
  histogram: ReadonlyMap<number, number>;
};

export type Filter = {
  department?: readonly string[];
  office?: readonly string[];
  tenureBand?: readonly string[];
  /** Everyone who reports (directly or not) to this manager. */
  subtree?: string;
};

const keys = new WeakMap<Attributes, string>();
export function atomKey(a: Attributes): string {
  let key = keys.get(a);
  if (key === undefined) {
    key = JSON.stringify([a.department, a.office, a.tenureBand, a.managerPath]);
    keys.set(a, key);
  }
  return key;
}

export function matches(filter: Filter, a: Attributes): boolean {
  for (const dimension of DIMENSIONS) {
    const allowed = filter[dimension];
    if (allowed !== undefined && !allowed.includes(a[dimension])) return false;
  }
  if (filter.subtree !== undefined && !a.managerPath.includes(filter.subtree)) return false;
  return true;
}

export type Cell = { atoms: Atom[]; count: number; histogram: Map<number, number>; key: string };

function cellOf(atoms: Atom[]): Cell {
  const histogram = new Map<number, number>();
  let count = 0;
  let key: string | undefined;
  for (const atom of atoms) {
    count += atom.count;
    for (const [value, n] of atom.histogram) histogram.set(value, (histogram.get(value) ?? 0) + n);
    const k = atomKey(atom.attributes);
    if (key === undefined || k < key) key = k;
  }
  return { atoms, count, histogram, key: key ?? "" };
}

/** One cell of several, in linear time. */
const union = (cells: readonly Cell[]): Cell => cellOf(cells.flatMap((c) => c.atoms));

/**
 * A cell may be released when it holds at least `minimum` answers and, when values count, not everyone gave the
 * same answer (a unanimous group pins everyone in it: a mean of 5.0 on a 1–5 scale, a distribution with one bar).
 */
function releasable(cell: Cell, minimum: number, valuesMatter: boolean): boolean {
  if (cell.count < minimum) return false;
  if (!valuesMatter) return true;
  let distinct = 0;
  for (const n of cell.histogram.values()) if (n > 0) distinct++;
  return distinct >= 2;
}

const LEVELS: ((a: Attributes) => string)[] = [
  (a) => a.department,
  (a) => a.office,
  (a) => a.tenureBand,
  (a) => a.managerPath.join("/"),
];

function compareCells(a: Cell, b: Cell): number {
  return a.count - b.count || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

/**
 * Cells of one node of the hierarchy: its children's cells with the small ones pooled together, and the pool
 * folded into the smallest releasable sibling when it is still too small. Returns one unreleasable cell when the
 * whole node is too small, for the parent to pool.
 */
function partitionNode(atoms: Atom[], depth: number, minimum: number, valuesMatter: boolean): Cell[] {
  if (depth === LEVELS.length) return [cellOf(atoms)];
  const groups = new Map<string, Atom[]>();
  for (const atom of atoms) {
    const key = LEVELS[depth]!(atom.attributes);
    let group = groups.get(key);
    if (!group) {
      group = [];
      groups.set(key, group);
    }
    group.push(atom);
  }
  const children = [...groups.keys()]
    .sort()
    .flatMap((key) => partitionNode(groups.get(key)!, depth + 1, minimum, valuesMatter));
  const big = children.filter((c) => releasable(c, minimum, valuesMatter));
  const small = children.filter((c) => !releasable(c, minimum, valuesMatter));
  if (small.length === 0) return big;
  const pool = union(small);
  if (releasable(pool, minimum, valuesMatter) || big.length === 0) return [...big, pool];
  let smallest = 0;
  for (let i = 1; i < big.length; i++) if (compareCells(big[i]!, big[smallest]!) < 0) smallest = i;
  // The pool joins the smallest releasable sibling; a union with a releasable cell is releasable.
  return [...big.filter((_, i) => i !== smallest), union([big[smallest]!, pool])];
}

/** The released cells of one wave's answers to one question: every cell releasable, covering all answers or none. */
export class Partition {
  /**
   * Released cells, compact: the members' (shared) attributes and the cell's totals. Atoms are dropped after
   * the build: a released figure is always a sum of whole cells, so per-atom figures are never needed again.
   */
  readonly cells: readonly ReleasedCell[];

  constructor(atoms: readonly Atom[], minimum: number, valuesMatter: boolean) {
    const cells = partitionNode(
      atoms.filter((a) => a.count > 0),
      0,
      minimum,
      valuesMatter,
    );
    // At the root, an unreleasable remainder means the whole question is withheld for the wave.
    const released = cells.every((c) => releasable(c, minimum, valuesMatter)) ? cells : [];
    this.cells = released.map((cell) => {
      let sum = 0;
      for (const atom of cell.atoms) sum += atom.sum;
      return { members: cell.atoms.map((a) => a.attributes), count: cell.count, sum, histogram: cell.histogram };
    });
  }

  /** The cells a filter selects, or null when they are not exactly a non-empty union of whole cells. */
  select(filter: Filter, test: (a: Attributes) => boolean = (a) => matches(filter, a)): ReleasedCell[] | null {
    const selected: ReleasedCell[] = [];
    for (const cell of this.cells) {
      let inside = 0;
      for (const member of cell.members) if (test(member)) inside++;
      if (inside === 0) continue;
      if (inside !== cell.members.length) return null;
      selected.push(cell);
    }
    return selected.length > 0 ? selected : null;
  }
}

export type ReleasedCell = {
  members: readonly Attributes[];
  count: number;
  sum: number;
  histogram: ReadonlyMap<number, number>;
};

export type Aggregate = { count: number; sum: number; histogram: Map<number, number> };

/** Totals of whole cells (or of atoms). */
export function aggregate(
  parts: readonly { count: number; sum: number; histogram: ReadonlyMap<number, number> }[],
): Aggregate {
  const histogram = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const part of parts) {
    count += part.count;
    sum += part.sum;
    for (const [value, n] of part.histogram) histogram.set(value, (histogram.get(value) ?? 0) + n);
  }
  return { count, sum, histogram };
}

/** eNPS on 0–10: promoters answered 9–10, detractors 0–6; eNPS = % promoters − % detractors, rounded. */
export function enps(histogram: ReadonlyMap<number, number>): {
  score: number;
  promoters: number;
  passives: number;
  detractors: number;
} {
  let promoters = 0;
  let passives = 0;
  let detractors = 0;
  for (const [value, n] of histogram) {
    if (value >= 9) promoters += n;
    else if (value >= 7) passives += n;
    else detractors += n;
  }
  const total = promoters + passives + detractors;
  const score = total === 0 ? 0 : Math.round(((promoters - detractors) * 100) / total);
  return { score, promoters, passives, detractors };
}
