// Buddy matching: hard rules, weighted soft scores, and an optimal assignment of the whole batch of pending
// new hires (min-cost flow with capacities over each hire's top-K feasible candidates, with an LP-duality
// certificate that the pruning lost nothing: docs/adr/0005-buddy-matching.md).
import { DateTime } from "luxon";
import { MinCostFlow } from "./min-cost-flow.ts";

export interface MatchPerson {
  id: string;
  department: string | null;
  office: string | null;
  timeZone: string | null;
  /** Direct manager first, then upwards. */
  managerChain: readonly string[];
  languages: readonly string[];
  interests: readonly string[];
  /** 0 = entry level; higher = more senior. */
  seniority: number;
}

export interface NewHire extends MatchPerson {
  hireDate: string;
  /** Buddies who declined this hire (never proposed again). */
  excludedBuddyIds?: readonly string[];
}

export interface BuddyCandidate extends MatchPerson {
  active: boolean;
  hireDate: string | null;
  /** Opted in as a buddy. */
  optedIn: boolean;
  /** 1–3 new hires at a time. */
  capacity: number;
  /** New hires currently buddied. */
  load: number;
  pausedUntil: string | null;
  leaveDate: string | null;
  lastBuddyAssignedAt: string | null;
  /** Local working hours, [start, end) in hours; defaults to 9–17. */
  workingHours?: readonly [number, number];
}

export interface HardRules {
  requireActive: boolean;
  requireOptIn: boolean;
  /** null = no tenure floor. */
  minTenureMonths: number | null;
  excludeManagementChain: boolean;
  /** Capacity is clamped to 1..maxCapacity. */
  maxCapacity: number;
  respectPause: boolean;
  excludeLeaving: boolean;
  /** null = no cool-down. */
  coolDownDays: number | null;
  /** null = time zones are not checked. */
  minOverlapHours: number | null;
}

export interface SoftWeights {
  department: number;
  neighbouringTeam: number;
  office: number;
  /** Per shared interest, up to three. */
  interest: number;
  language: number;
  /** Full weight at the ideal seniority gap, falling to 0 three levels away. */
  seniority: number;
  idealSeniorityGap: number;
}

export const DEFAULT_HARD_RULES: HardRules = {
  requireActive: true,
  requireOptIn: true,
  minTenureMonths: 6,
  excludeManagementChain: true,
  maxCapacity: 3,
  respectPause: true,
  excludeLeaving: true,
  coolDownDays: 30,
  minOverlapHours: 3,
};

export const DEFAULT_WEIGHTS: SoftWeights = {
  department: 3,
  neighbouringTeam: 1.5,
  office: 2,
  interest: 1,
  language: 2,
  seniority: 1,
  idealSeniorityGap: 2,
};

export type BlockReason =
  | "inactive"
  | "not-opted-in"
  | "tenure"
  | "self"
  | "declined"
  | "management-chain"
  | "capacity"
  | "paused"
  | "leaving"
  | "cool-down"
  | "time-zone-overlap";

const DEFAULT_HOURS: readonly [number, number] = [9, 17];
const DAY_MS = 86_400_000;

/** Minutes east of UTC for an IANA zone on a day (DST-aware); unknown zones count as UTC. */
export function utcOffsetMinutes(timeZone: string | null, onDate: string): number {
  if (!timeZone) return 0;
  const dt = DateTime.fromISO(`${onDate}T12:00:00`, { zone: timeZone });
  return dt.isValid ? dt.offset : 0;
}

/** Hours both people are at work on the given day, from their time zones and local working hours. */
export function overlapHours(
  a: { timeZone: string | null; workingHours?: readonly [number, number] },
  b: { timeZone: string | null; workingHours?: readonly [number, number] },
  onDate: string,
): number {
  return overlapFromOffsets(
    utcOffsetMinutes(a.timeZone, onDate),
    a.workingHours ?? DEFAULT_HOURS,
    utcOffsetMinutes(b.timeZone, onDate),
    b.workingHours ?? DEFAULT_HOURS,
  );
}

function overlapFromOffsets(
  offsetA: number,
  hoursA: readonly [number, number],
  offsetB: number,
  hoursB: readonly [number, number],
): number {
  // Working windows in UTC minutes of the same day; the ±1 day shifts catch windows that wrap midnight.
  const aStart = hoursA[0] * 60 - offsetA;
  const aEnd = hoursA[1] * 60 - offsetA;
  let best = 0;
  for (const shift of [-1440, 0, 1440]) {
    const bStart = hoursB[0] * 60 - offsetB + shift;
    const bEnd = hoursB[1] * 60 - offsetB + shift;
    best = Math.max(best, Math.min(aEnd, bEnd) - Math.max(aStart, bStart));
  }
  return Math.max(0, best) / 60;
}

const tenureCutoffs = new Map<string, string>();
/** The latest hire date that has `months` of tenure on `today`. */
function tenureCutoff(today: string, months: number): string {
  const key = `${today}|${months}`;
  let cutoff = tenureCutoffs.get(key);
  if (cutoff === undefined) {
    cutoff = DateTime.fromISO(today, { zone: "utc" }).minus({ months }).toISODate() as string;
    tenureCutoffs.set(key, cutoff);
  }
  return cutoff;
}

/** Candidate-only rules (no hire involved): checked once per candidate. */
export function candidateBlocks(c: BuddyCandidate, rules: HardRules, today: string): BlockReason[] {
  const reasons: BlockReason[] = [];
  if (rules.requireActive && !c.active) reasons.push("inactive");
  if (rules.requireOptIn && !c.optedIn) reasons.push("not-opted-in");
  if (
    rules.minTenureMonths !== null &&
    (!c.hireDate || c.hireDate.slice(0, 10) > tenureCutoff(today, rules.minTenureMonths))
  )
    reasons.push("tenure");
  if (remainingCapacity(c, rules) <= 0) reasons.push("capacity");
  if (rules.respectPause && c.pausedUntil && c.pausedUntil > today) reasons.push("paused");
  if (rules.excludeLeaving && c.leaveDate) reasons.push("leaving");
  if (rules.coolDownDays !== null && c.lastBuddyAssignedAt) {
    const since = (Date.parse(`${today}T00:00:00Z`) - Date.parse(c.lastBuddyAssignedAt)) / DAY_MS;
    if (since < rules.coolDownDays) reasons.push("cool-down");
  }
  return reasons;
}

export function remainingCapacity(c: BuddyCandidate, rules: HardRules): number {
  const capacity = Math.max(1, Math.min(rules.maxCapacity, Math.floor(c.capacity)));
  return capacity - c.load;
}

/** Every hard rule the pair breaks (empty = the candidate may buddy the hire). */
export function pairBlocks(hire: NewHire, c: BuddyCandidate, rules: HardRules, today: string): BlockReason[] {
  const reasons = candidateBlocks(c, rules, today);
  if (c.id === hire.id) reasons.push("self");
  if (hire.excludedBuddyIds?.includes(c.id)) reasons.push("declined");
  if (rules.excludeManagementChain && hire.managerChain.includes(c.id)) reasons.push("management-chain");
  if (rules.minOverlapHours !== null && overlapHours(hire, c, today) < rules.minOverlapHours)
    reasons.push("time-zone-overlap");
  return reasons;
}

export interface ScoreBreakdown {
  score: number;
  sameDepartment: boolean;
  neighbouringTeam: boolean;
  sameOffice: boolean;
  sharedInterests: string[];
  sharedLanguages: string[];
  seniorityGap: number;
  overlapHours: number;
}

function neighbouring(hire: MatchPerson, c: MatchPerson): boolean {
  // Sibling teams: the two managers report to the same person, or one's manager manages the other's manager.
  const hm = hire.managerChain;
  const cm = c.managerChain;
  if (hm.length === 0 || cm.length === 0) return false;
  if (hm[0] === cm[0]) return true;
  return (hm[1] !== undefined && hm[1] === cm[1]) || hm[1] === cm[0] || cm[1] === hm[0];
}

export function scorePair(hire: NewHire, c: BuddyCandidate, weights: SoftWeights, today: string): ScoreBreakdown {
  const sameDepartment = !!hire.department && hire.department === c.department;
  const neighbouringTeam = !sameDepartment && neighbouring(hire, c);
  const sameOffice = !!hire.office && hire.office === c.office;
  const cInterests = new Set(c.interests.map((i) => i.toLowerCase()));
  const sharedInterests = [...new Map(hire.interests.map((i) => [i.toLowerCase(), i])).entries()]
    .filter(([key]) => cInterests.has(key))
    .map(([, i]) => i);
  const cLanguages = new Set(c.languages.map((l) => l.toLowerCase()));
  const sharedLanguages = hire.languages.filter((l) => cLanguages.has(l.toLowerCase()));
  const seniorityGap = c.seniority - hire.seniority;
  const seniorityFit = Math.max(0, 1 - Math.abs(seniorityGap - weights.idealSeniorityGap) / 3);
  const score =
    (sameDepartment ? weights.department : 0) +
    (neighbouringTeam ? weights.neighbouringTeam : 0) +
    (sameOffice ? weights.office : 0) +
    Math.min(3, sharedInterests.length) * weights.interest +
    (sharedLanguages.length > 0 ? weights.language : 0) +
    seniorityFit * weights.seniority;
  return {
    score: Math.round(score * 1000) / 1000,
    sameDepartment,
    neighbouringTeam,
    sameOffice,
    sharedInterests,
    sharedLanguages,
    seniorityGap,
    overlapHours: overlapHours(hire, c, today),
  };
}

/** "same office, 2 shared interests, 3 h overlap" */
export function explain(b: ScoreBreakdown): string {
  const parts: string[] = [];
  if (b.sameDepartment) parts.push("same department");
  if (b.neighbouringTeam) parts.push("neighbouring team");
  if (b.sameOffice) parts.push("same office");
  if (b.sharedInterests.length > 0)
    parts.push(
      `${b.sharedInterests.length} shared interest${b.sharedInterests.length === 1 ? "" : "s"} (${b.sharedInterests.join(", ")})`,
    );
  if (b.sharedLanguages.length > 0) parts.push(`speaks ${b.sharedLanguages.join(", ")}`);
  if (b.seniorityGap > 0) parts.push(`${b.seniorityGap} level${b.seniorityGap === 1 ? "" : "s"} more senior`);
  parts.push(`${formatHours(b.overlapHours)} h overlap`);
  return parts.join(", ");
}

function formatHours(h: number): string {
  return Number.isInteger(h) ? String(h) : h.toFixed(1);
}

export interface Match {
  hireId: string;
  buddyId: string;
  score: number;
  explanation: string;
  breakdown: ScoreBreakdown;
}

export interface MatchResult {
  matches: Match[];
  /** Hires no feasible buddy could take (with the capacity left). */
  unmatched: string[];
  totalScore: number;
  /** Candidates kept per hire in the final solve. */
  candidatesPerHire: number;
  /** Solves run (the certificate may ask for a wider K). */
  rounds: number;
}

export interface MatchOptions {
  rules?: Partial<HardRules>;
  weights?: Partial<SoftWeights>;
  /** Calendar date the rules are evaluated on (tenure, pauses, cool-down, DST). */
  today: string;
  /** Initial candidates kept per hire; widened for hires whose certificate fails. Infinity = no pruning. */
  topK?: number;
}

/**
 * Pre-computed, allocation-free view of the people for the hot loop: 1,000 × 50,000 pair evaluations.
 */
interface Encoded {
  dept: Int32Array;
  office: Int32Array;
  mgr0: Int32Array;
  mgr1: Int32Array;
  /** Bit sets, `interestWords` / `languageWords` words per person, flat. */
  interests: Uint32Array;
  interestWords: number;
  languages: Uint32Array;
  languageWords: number;
  seniority: Float64Array;
  zone: Int32Array;
}

class Interner {
  readonly #ids = new Map<string, number>();
  id(value: string | null | undefined): number {
    if (value === null || value === undefined || value === "") return -1;
    let id = this.#ids.get(value);
    if (id === undefined) {
      id = this.#ids.size;
      this.#ids.set(value, id);
    }
    return id;
  }
  get size(): number {
    return this.#ids.size;
  }
}

function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

function encode(
  people: readonly MatchPerson[],
  interners: Record<string, Interner>,
  words: (distinct: number) => number,
): Encoded {
  const n = people.length;
  const e: Encoded = {
    dept: new Int32Array(n),
    office: new Int32Array(n),
    mgr0: new Int32Array(n),
    mgr1: new Int32Array(n),
    interests: new Uint32Array(0),
    interestWords: 0,
    languages: new Uint32Array(0),
    languageWords: 0,
    seniority: new Float64Array(n),
    zone: new Int32Array(n),
  };
  const interestIds: number[][] = [];
  const languageIds: number[][] = [];
  for (let i = 0; i < n; i++) {
    const p = people[i] as MatchPerson;
    e.dept[i] = (interners.dept as Interner).id(p.department);
    e.office[i] = (interners.office as Interner).id(p.office);
    e.mgr0[i] = (interners.person as Interner).id(p.managerChain[0]);
    e.mgr1[i] = (interners.person as Interner).id(p.managerChain[1]);
    e.seniority[i] = p.seniority;
    e.zone[i] = (interners.zone as Interner).id(
      `${p.timeZone ?? "UTC"}|${((p as BuddyCandidate).workingHours ?? DEFAULT_HOURS).join("-")}`,
    );
    interestIds.push(p.interests.map((x) => (interners.interest as Interner).id(x.toLowerCase())));
    languageIds.push(p.languages.map((x) => (interners.language as Interner).id(x.toLowerCase())));
  }
  const masks = (all: number[][], w: number) => {
    const flat = new Uint32Array(all.length * w);
    all.forEach((ids, i) => {
      for (const id of ids) flat[i * w + (id >> 5)] = (flat[i * w + (id >> 5)] as number) | (1 << (id & 31));
    });
    return flat;
  };
  e.interestWords = words((interners.interest as Interner).size);
  e.interests = masks(interestIds, e.interestWords);
  e.languageWords = words((interners.language as Interner).size);
  e.languages = masks(languageIds, e.languageWords);
  return e;
}

/** Score in thousandths, as scorePair computes it, from the encoded arrays. */
function fastScore(h: Encoded, i: number, c: Encoded, j: number, w: SoftWeights): number {
  const sameDept = h.dept[i] !== -1 && h.dept[i] === c.dept[j];
  let neighbour = false;
  if (!sameDept) {
    const hm0 = h.mgr0[i] as number;
    const hm1 = h.mgr1[i] as number;
    const cm0 = c.mgr0[j] as number;
    const cm1 = c.mgr1[j] as number;
    neighbour = hm0 !== -1 && cm0 !== -1 && (hm0 === cm0 || (hm1 !== -1 && hm1 === cm1) || hm1 === cm0 || cm1 === hm0);
  }
  const wi = h.interestWords;
  let shared = 0;
  for (let k = 0; k < wi; k++)
    shared += popcount((h.interests[i * wi + k] as number) & (c.interests[j * wi + k] as number));
  const wl = h.languageWords;
  let language = false;
  for (let k = 0; k < wl; k++)
    if (((h.languages[i * wl + k] as number) & (c.languages[j * wl + k] as number)) !== 0) language = true;
  const gap = (c.seniority[j] as number) - (h.seniority[i] as number);
  const fit = Math.max(0, 1 - Math.abs(gap - w.idealSeniorityGap) / 3);
  const score =
    (sameDept ? w.department : 0) +
    (neighbour ? w.neighbouringTeam : 0) +
    (h.office[i] !== -1 && h.office[i] === c.office[j] ? w.office : 0) +
    Math.min(3, shared) * w.interest +
    (language ? w.language : 0) +
    fit * w.seniority;
  return Math.round(score * 1000);
}

/**
 * The optimal assignment for the batch: first as many hires matched as possible, then the largest total score.
 */
function prepare(hires: readonly NewHire[], candidates: readonly BuddyCandidate[], options: MatchOptions) {
  const rules: HardRules = { ...DEFAULT_HARD_RULES, ...options.rules };
  const weights: SoftWeights = { ...DEFAULT_WEIGHTS, ...options.weights };
  const { today } = options;

  // Candidate-only rules once per candidate.
  const pool: BuddyCandidate[] = [];
  for (const c of candidates) if (candidateBlocks(c, rules, today).length === 0) pool.push(c);

  const interners: Record<string, Interner> = {
    dept: new Interner(),
    office: new Interner(),
    person: new Interner(),
    interest: new Interner(),
    language: new Interner(),
    zone: new Interner(),
  };
  for (const p of [...hires, ...pool]) {
    for (const i of p.interests) interners.interest?.id(i.toLowerCase());
    for (const l of p.languages) interners.language?.id(l.toLowerCase());
  }
  const words = (distinct: number) => Math.max(1, Math.ceil(distinct / 32));
  const H = encode(hires, interners, words);
  const C = encode(pool, interners, words);
  const candidateIndex = new Map(pool.map((c, j) => [c.id, j]));

  // Time-zone overlap per pair of (zone, working hours): few distinct values.
  const zoneKeys: string[] = [];
  for (const p of [...hires, ...pool]) {
    const id = interners.zone?.id(
      `${p.timeZone ?? "UTC"}|${((p as BuddyCandidate).workingHours ?? DEFAULT_HOURS).join("-")}`,
    ) as number;
    if (zoneKeys[id] === undefined)
      zoneKeys[id] = `${p.timeZone ?? ""}|${((p as BuddyCandidate).workingHours ?? DEFAULT_HOURS).join("-")}`;
  }
  const zones = zoneKeys.length;
  const zoneOffset = zoneKeys.map((k) => utcOffsetMinutes(k.split("|")[0] || null, today));
  const zoneHours = zoneKeys.map((k) => (k.split("|")[1] as string).split("-").map(Number) as [number, number]);
  const zoneOk = new Uint8Array(zones * zones);
  for (let a = 0; a < zones; a++)
    for (let b = 0; b < zones; b++)
      zoneOk[a * zones + b] =
        rules.minOverlapHours === null ||
        overlapFromOffsets(
          zoneOffset[a] as number,
          zoneHours[a] as [number, number],
          zoneOffset[b] as number,
          zoneHours[b] as [number, number],
        ) >= rules.minOverlapHours
          ? 1
          : 0;

  const blockedPerHire = hires.map((h) => {
    const blocked = new Set<number>();
    const self = candidateIndex.get(h.id);
    if (self !== undefined) blocked.add(self);
    for (const id of h.excludedBuddyIds ?? []) {
      const j = candidateIndex.get(id);
      if (j !== undefined) blocked.add(j);
    }
    if (rules.excludeManagementChain)
      for (const m of h.managerChain) {
        const j = candidateIndex.get(m);
        if (j !== undefined) blocked.add(j);
      }
    return blocked;
  });

  // Per hire: feasible candidates sorted by score (descending), cut to the top K + the (K+1)-th score.
  const feasibleCounts = new Int32Array(hires.length);
  const rankedFor = (i: number, k: number): { list: Array<[number, number]>; nextBest: number } => {
    const zi = (H.zone[i] as number) * zones;
    const blocked = blockedPerHire[i] as Set<number>;
    // A bounded min-heap on score would be tidier; a sorted insertion into a short array is faster for K ≤ 64.
    const keep = Number.isFinite(k) ? k + 1 : Number.POSITIVE_INFINITY;
    const top: Array<[number, number]> = [];
    let count = 0;
    for (let j = 0; j < pool.length; j++) {
      if (zoneOk[zi + (C.zone[j] as number)] === 0) continue;
      // Counts the few management-chain candidates too: an upper bound is all the widening needs.
      count++;
      const s = fastScore(H, i, C, j, weights);
      if (top.length >= keep && s <= ((top[top.length - 1] as [number, number])[1] as number)) continue;
      if (blocked.has(j)) continue;
      if (top.length >= keep) top.pop();
      let at = top.length;
      while (at > 0 && ((top[at - 1] as [number, number])[1] as number) < s) at--;
      top.splice(at, 0, [j, s]);
    }
    feasibleCounts[i] = count;
    if (top.length > k) {
      const next = top.pop() as [number, number];
      return { list: top, nextBest: next[1] };
    }
    return { list: top, nextBest: Number.NEGATIVE_INFINITY };
  };

  const feasible = (i: number, j: number): boolean =>
    zoneOk[(H.zone[i] as number) * zones + (C.zone[j] as number)] === 1 && !(blockedPerHire[i] as Set<number>).has(j);
  const score = (i: number, j: number): number => fastScore(H, i, C, j, weights);
  const capacities = pool.map((c) => remainingCapacity(c, rules));
  return { rules, weights, pool, rankedFor, feasibleCounts, capacities, feasible, score };
}

export function matchBuddies(
  hires: readonly NewHire[],
  candidates: readonly BuddyCandidate[],
  options: MatchOptions,
): MatchResult {
  const { weights, pool, rankedFor, feasibleCounts, capacities } = prepare(hires, candidates, options);
  const { today } = options;
  const maxScore = Math.round(
    (Math.max(weights.department, weights.neighbouringTeam) +
      weights.office +
      3 * weights.interest +
      weights.language +
      weights.seniority) *
      1000,
  );
  // Matching one more hire always outweighs any difference in scores.
  const bonus = (hires.length + 1) * (maxScore + 1);
  const maxWeight = bonus + maxScore;

  const kPerHire = hires.map(() => options.topK ?? 24);
  const ranked = hires.map((_, i) => rankedFor(i, kPerHire[i] as number));
  let rounds = 0;
  for (;;) {
    rounds++;
    const used = new Map<number, number>();
    for (const r of ranked) for (const [j] of r.list) if (!used.has(j)) used.set(j, used.size);
    const n = hires.length;
    const S = 0;
    const T = 1 + n + used.size;
    const mcf = new MinCostFlow(T + 1);
    for (let i = 0; i < n; i++) {
      mcf.addEdge(S, 1 + i, 1, 0);
      // Unmatched: weight 0, cost maxWeight (costs are maxWeight − weight, so all non-negative).
      mcf.addEdge(1 + i, T, 1, maxWeight);
    }
    const pairEdges: Array<{ i: number; j: number; s: number; edge: number }> = [];
    for (let i = 0; i < n; i++)
      for (const [j, s] of (ranked[i] as { list: Array<[number, number]> }).list)
        pairEdges.push({ i, j, s, edge: mcf.addEdge(1 + i, 1 + n + (used.get(j) as number), 1, maxScore - s) });
    for (const [j, node] of used) mcf.addEdge(1 + n + node, T, capacities[j] as number, 0);
    mcf.flow(S, T, n);

    // Certificate: with p = dual (reduced costs cost + p(from) − p(to) ≥ 0 on every residual edge), any omitted edge (i, c) of weight w keeps every reduced cost ≥ 0 when
    // w ≤ maxWeight + p(i) − p(T); then the flow is optimal for the unpruned graph as well (ADR 0005).
    const pT = mcf.dual[T] as number;
    const widen: number[] = [];
    for (let i = 0; i < n; i++) {
      const r = ranked[i] as { nextBest: number };
      if (r.nextBest === Number.NEGATIVE_INFINITY) continue;
      const omittedWeight = bonus + r.nextBest;
      const pI = mcf.dual[1 + i] as number;
      if (omittedWeight > maxWeight + pI - pT) widen.push(i);
    }
    if (widen.length === 0) {
      const matches: Match[] = [];
      const matched = new Set<number>();
      let totalScore = 0;
      for (const p of pairEdges) {
        if (mcf.flowOn(p.edge) !== 1) continue;
        const hire = hires[p.i] as NewHire;
        const buddy = pool[p.j] as BuddyCandidate;
        const breakdown = scorePair(hire, buddy, weights, today);
        matched.add(p.i);
        totalScore += breakdown.score;
        matches.push({
          hireId: hire.id,
          buddyId: buddy.id,
          score: breakdown.score,
          explanation: explain(breakdown),
          breakdown,
        });
      }
      return {
        matches,
        unmatched: hires.filter((_, i) => !matched.has(i)).map((h) => h.id),
        totalScore: Math.round(totalScore * 1000) / 1000,
        candidatesPerHire: Math.max(0, ...ranked.map((r) => r.list.length)),
        rounds,
      };
    }
    for (const i of widen) {
      kPerHire[i] = Math.min(feasibleCounts[i] as number, (kPerHire[i] as number) * 4);
      ranked[i] = rankedFor(i, kPerHire[i] as number);
    }
  }
}

/** Baseline: each hire in turn (earliest start first) takes the best buddy still available. */
export function greedyBuddies(
  hires: readonly NewHire[],
  candidates: readonly BuddyCandidate[],
  options: MatchOptions,
): MatchResult {
  const { weights, pool, capacities, feasible, score } = prepare(hires, candidates, options);
  const left = [...capacities];
  const order = hires
    .map((_, i) => i)
    .sort((a, b) => (hires[a] as NewHire).hireDate.localeCompare((hires[b] as NewHire).hireDate));
  const matches: Match[] = [];
  const unmatched: string[] = [];
  let totalScore = 0;
  for (const i of order) {
    const hire = hires[i] as NewHire;
    let best = -1;
    let bestScore = -1;
    for (let j = 0; j < pool.length; j++) {
      if ((left[j] as number) <= 0 || !feasible(i, j)) continue;
      const s = score(i, j);
      if (s > bestScore) {
        bestScore = s;
        best = j;
      }
    }
    if (best === -1) {
      unmatched.push(hire.id);
      continue;
    }
    left[best] = (left[best] as number) - 1;
    const buddy = pool[best] as BuddyCandidate;
    const breakdown = scorePair(hire, buddy, weights, options.today);
    totalScore += breakdown.score;
    matches.push({
      hireId: hire.id,
      buddyId: buddy.id,
      score: breakdown.score,
      explanation: explain(breakdown),
      breakdown,
    });
  }
  return {
    matches,
    unmatched,
    totalScore: Math.round(totalScore * 1000) / 1000,
    candidatesPerHire: pool.length,
    rounds: 1,
  };
}
