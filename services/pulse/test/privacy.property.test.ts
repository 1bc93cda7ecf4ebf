// The adversarial privacy test (issue 6): random organisations, random answers, an attacker with HR rights who
// pulls every aggregate the results API can give; every released (count, sum, distribution) becomes linear
// equations over the individual answers, and exact rational elimination must find no unit vector in their span,
// while the scale's bounds must pin nobody. fast-check shrinks a failure to a minimal organisation.
import test from "ava";
import fc from "fast-check";
import {
  type Atom,
  type Attributes,
  atomKey,
  disclosureRules,
  type Filter,
  matches,
} from "../src/domain/disclosure.ts";
import { type QuestionScale, WaveDisclosure } from "../src/domain/results.ts";

// ---- exact linear algebra over the rationals ------------------------------------------------------------------

type Q = { n: bigint; d: bigint };
const gcd = (a: bigint, b: bigint): bigint => {
  let x = a < 0n ? -a : a;
  let y = b < 0n ? -b : b;
  while (y) [x, y] = [y, x % y];
  return x;
};
const q = (n: bigint, d = 1n): Q => {
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d) || 1n;
  return { n: n / g, d: d / g };
};
const sub = (a: Q, b: Q): Q => q(a.n * b.d - b.n * a.d, a.d * b.d);
const mul = (a: Q, b: Q): Q => q(a.n * b.n, a.d * b.d);
const div = (a: Q, b: Q): Q => q(a.n * b.d, a.d * b.n);

/** Reduced row echelon basis of the span of `rows`; pivots[i] is the pivot column of basis[i]. */
function rowSpace(rows: readonly number[][], width: number) {
  const basis: Q[][] = [];
  const pivots: number[] = [];
  for (const row of rows) {
    let r = reduce(
      row.map((x) => q(BigInt(x))),
      basis,
      pivots,
    );
    const p = r.findIndex((x) => x.n !== 0n);
    if (p < 0) continue;
    const lead = r[p]!;
    r = r.map((x) => div(x, lead));
    for (let i = 0; i < basis.length; i++) {
      const f = basis[i]![p]!;
      if (f.n !== 0n) basis[i] = basis[i]!.map((x, j) => sub(x, mul(f, r[j]!)));
    }
    basis.push(r);
    pivots.push(p);
  }
  void width;
  return { basis, pivots };
}

function reduce(row: Q[], basis: Q[][], pivots: number[]): Q[] {
  let r = row;
  for (let i = 0; i < basis.length; i++) {
    const f = r[pivots[i]!]!;
    if (f.n !== 0n) r = r.map((x, j) => sub(x, mul(f, basis[i]![j]!)));
  }
  return r;
}

/** Columns whose unit vector lies in the span of the rows: the answers the attacker determines exactly. */
function determined(rows: readonly number[][], width: number): number[] {
  const { basis, pivots } = rowSpace(rows, width);
  const out: number[] = [];
  for (let c = 0; c < width; c++) {
    const unit = Array.from({ length: width }, (_, j) => q(j === c ? 1n : 0n));
    if (reduce(unit, basis, pivots).every((x) => x.n === 0n)) out.push(c);
  }
  return out;
}

/** Groups of columns that every row treats alike: any derivable figure is constant on each group. */
function indistinguishable(rows: readonly number[][], width: number): number[][] {
  const groups = new Map<string, number[]>();
  for (let c = 0; c < width; c++) {
    const key = rows.map((r) => r[c]).join("");
    let g = groups.get(key);
    if (!g) {
      g = [];
      groups.set(key, g);
    }
    g.push(c);
  }
  return [...groups.values()];
}

// ---- organisations -----------------------------------------------------------------------------------------

type Person = Attributes & { id: string };
type Org = { people: Person[]; waves: { answers: (Record<string, number | null> | null)[] }[] };

const QUESTIONS: Record<string, QuestionScale> = {
  enps: { kind: "enps", min: 0, max: 10 },
  driver: { kind: "scale", min: 1, max: 5 },
  comment: { kind: "comment", min: 0, max: 0 },
};

const arbOrg = (minPeople = 20, maxPeople = 60): fc.Arbitrary<Org> =>
  fc.integer({ min: minPeople, max: maxPeople }).chain((size) =>
    fc
      .record({
        people: fc.array(
          fc.record({
            department: fc.constantFrom("Eng", "Sales", "Ops", "HR"),
            office: fc.constantFrom("Berlin", "Lyon", "Remote"),
            tenureBand: fc.constantFrom("<1y", "1-3y", "3y+"),
            manager: fc.nat(),
          }),
          { minLength: size, maxLength: size },
        ),
        // A skewed answer source makes unanimous groups (the bounds attack) common.
        waves: fc.array(
          fc.array(
            fc.option(
              fc.record({
                enps: fc.oneof(fc.constant(10), fc.integer({ min: 0, max: 10 })),
                driver: fc.oneof(fc.constant(5), fc.constant(1), fc.integer({ min: 1, max: 5 })),
                comment: fc.option(fc.constant(1), { freq: 2 }),
              }),
              { freq: 5 },
            ),
            { minLength: size, maxLength: size },
          ),
          { minLength: 1, maxLength: 2 },
        ),
      })
      .map(({ people, waves }) => {
        const built: Person[] = [];
        people.forEach((p, i) => {
          // A tree: everyone but the first reports to someone earlier.
          const managerIndex = i === 0 ? -1 : p.manager % i;
          const managerPath = managerIndex < 0 ? [] : [...built[managerIndex]!.managerPath, built[managerIndex]!.id];
          built.push({
            id: `p${i}`,
            department: p.department,
            office: p.office,
            tenureBand: p.tenureBand,
            managerPath,
          });
        });
        return { people: built, waves: waves.map((answers) => ({ answers })) };
      }),
  );

function atomsOf(people: Person[], answers: Org["waves"][number]["answers"], questionId: string): Atom[] {
  const byKey = new Map<
    string,
    { attributes: Attributes; count: number; sum: number; histogram: Map<number, number> }
  >();
  people.forEach((person, i) => {
    const value = answers[i]?.[questionId];
    if (value === null || value === undefined) return;
    const key = atomKey(person);
    let atom = byKey.get(key);
    if (!atom) {
      atom = { attributes: person, count: 0, sum: 0, histogram: new Map() };
      byKey.set(key, atom);
    }
    atom.count++;
    atom.sum += value;
    atom.histogram.set(value, (atom.histogram.get(value) ?? 0) + 1);
  });
  return [...byKey.values()];
}

/** Every filter the API accepts: each dimension any or one value, optionally a manager's subtree. */
function everyFilter(people: Person[]): Filter[] {
  const values = (f: (p: Person) => string) => [undefined, ...new Set(people.map(f))];
  const managers = [undefined, ...new Set(people.flatMap((p) => p.managerPath))];
  const filters: Filter[] = [];
  for (const department of values((p) => p.department))
    for (const office of values((p) => p.office))
      for (const tenureBand of values((p) => p.tenureBand))
        for (const subtree of managers)
          filters.push({
            ...(department && { department: [department] }),
            ...(office && { office: [office] }),
            ...(tenureBand && { tenureBand: [tenureBand] }),
            ...(subtree && { subtree }),
          });
  // Multi-value filters: every pair of departments and of offices.
  const departments = [...new Set(people.map((p) => p.department))];
  for (const a of departments) for (const b of departments) if (a < b) filters.push({ department: [a, b] });
  const offices = [...new Set(people.map((p) => p.office))];
  for (const a of offices) for (const b of offices) if (a < b) filters.push({ office: [a, b] });
  return filters;
}

type Leak = { wave: number; question: string; reason: string };

/** The attacker: pulls every released figure of every wave and question and looks for a determined answer. */
function attack(org: Org, rules = disclosureRules()): Leak[] {
  const leaks: Leak[] = [];
  const filters = everyFilter(org.people);
  org.waves.forEach((wave, w) => {
    const questions = new Map(
      Object.entries(QUESTIONS).map(([id, scale]) => [id, { scale, atoms: atomsOf(org.people, wave.answers, id) }]),
    );
    const disclosure = new WaveDisclosure({ waveId: `w${w}`, closed: true, questions }, rules);
    const openWave = new WaveDisclosure({ waveId: `w${w}`, closed: false, questions }, rules);
    for (const [questionId, { scale }] of questions) {
      // Unknowns: the answers of this wave's respondents to this question (each wave has its own unknowns).
      const respondents = org.people.flatMap((p, i) => {
        const v = wave.answers[i]?.[questionId];
        return v === null || v === undefined ? [] : [{ person: p, value: v }];
      });
      // Usefulness: the whole population is shown whenever it is itself big enough and not unanimous.
      const minimum0 = scale.kind === "comment" ? rules.commentMinimum : rules.minGroupSize;
      const distinct = new Set(respondents.map((r) => r.value)).size;
      if (
        respondents.length >= minimum0 &&
        (scale.kind === "comment" || distinct > 1) &&
        disclosure.aggregate(questionId, {}) === null
      ) {
        leaks.push({ wave: w, question: questionId, reason: "whole population withheld" });
      }
      const rows = new Map<string, number[]>();
      for (const filter of filters) {
        if (openWave.aggregate(questionId, filter) !== null)
          leaks.push({ wave: w, question: questionId, reason: "open wave released" });
        const released = disclosure.aggregate(questionId, filter);
        const row = respondents.map((r) => (matches(filter, r.person) ? 1 : 0));
        const inside = respondents.filter((r) => matches(filter, r.person));
        if (released === null) continue;
        // The figure must be exactly the filter's (no silent widening), then it becomes an equation.
        if (released.count !== inside.length || released.sum !== inside.reduce((s, r) => s + r.value, 0)) {
          leaks.push({ wave: w, question: questionId, reason: `figure is not the filter's ${JSON.stringify(filter)}` });
        }
        const minimum = scale.kind === "comment" ? rules.commentMinimum : rules.minGroupSize;
        if (released.count < minimum) leaks.push({ wave: w, question: questionId, reason: "group below minimum" });
        rows.set(row.join(""), row);
      }
      const matrix = [...rows.values()];
      if (matrix.length === 0) continue;
      const unit = determined(matrix, respondents.length);
      if (unit.length > 0) leaks.push({ wave: w, question: questionId, reason: `answers determined: ${unit}` });
      // Any derivable figure is constant on each group of indistinguishable respondents, so a difference of
      // results isolates at least a whole group; and the bounds pin a group's members only when it is unanimous.
      for (const group of indistinguishable(matrix, respondents.length)) {
        const covered = matrix.some((r) => r[group[0]!] === 1);
        if (!covered) continue;
        const minimum = scale.kind === "comment" ? rules.commentMinimum : rules.minGroupSize;
        if (group.length < minimum) leaks.push({ wave: w, question: questionId, reason: `isolates ${group.length}` });
        if (scale.kind !== "comment" && new Set(group.map((c) => respondents[c]!.value)).size < 2) {
          leaks.push({ wave: w, question: questionId, reason: `bounds pin ${group.length} (unanimous)` });
        }
      }
    }
  });
  return leaks;
}

test("elimination finds a unit vector when two results differ by one person (the checker can fail)", (t) => {
  // Department (3 people) and the department without one: row difference is e_2.
  t.deepEqual(
    determined(
      [
        [1, 1, 1],
        [1, 1, 0],
      ],
      3,
    ),
    [2],
  );
  t.deepEqual(
    determined(
      [
        [1, 1, 0, 0],
        [0, 0, 1, 1],
      ],
      4,
    ),
    [],
  );
  t.deepEqual(
    determined(
      [
        [1, 1, 0],
        [0, 1, 1],
        [1, 0, 1],
      ],
      3,
    ),
    [0, 1, 2],
  );
});

test("no answer is determined and nobody is pinned, whatever the attacker pulls", (t) => {
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(arbOrg(), fc.integer({ min: 3, max: 8 }), (org, minGroupSize) => {
        const leaks = attack(org, disclosureRules({ minGroupSize, commentMinimum: Math.max(minGroupSize, 10) }));
        if (leaks.length > 0) t.log(JSON.stringify(leaks.slice(0, 3)));
        return leaks.length === 0;
      }),
      { numRuns: Number(process.env.PRIVACY_RUNS ?? 150) },
    ),
  );
});

test("a naive per-filter threshold fails the same attacker (the property test has teeth)", (t) => {
  // Minimum group size alone: release any filter with ≥ 5 answers. fast-check must find a leak.
  const naiveLeaks = (org: Org): boolean => {
    const answers = org.waves[0]!.answers;
    const respondents = org.people.flatMap((p, i) => (answers[i]?.driver == null ? [] : [p]));
    const rows = everyFilter(org.people)
      .map((f) => respondents.map((p): number => (matches(f, p) ? 1 : 0)))
      .filter((r) => r.reduce((a, b) => a + b, 0) >= 5);
    return rows.length > 0 && determined(rows, respondents.length).length > 0;
  };
  const result = fc.check(
    fc.property(arbOrg(), (org) => !naiveLeaks(org)),
    { numRuns: 200 },
  );
  t.true(result.failed, "fast-check found an organisation where thresholds alone leak");
  t.log(`naive threshold leaks on an organisation of ${result.counterexample?.[0].people.length} people`);
});
