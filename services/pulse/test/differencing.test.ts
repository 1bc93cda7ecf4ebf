// Targeted differencing cases (issue 6): for each pair of results whose difference would be a small group, at
// least one side must be suppressed; and a suppressed result looks exactly like an empty one.
import test from "ava";
import { type Atom, type Attributes, atomKey, disclosureRules, type Filter } from "../src/domain/disclosure.ts";
import { WaveDisclosure } from "../src/domain/results.ts";

type Answer = Attributes & { value: number };

function wave(answers: Answer[], closed = true, min = 5) {
  const atoms = new Map<string, Atom & { histogram: Map<number, number> }>();
  for (const a of answers) {
    const key = atomKey(a);
    let atom = atoms.get(key);
    if (!atom) {
      atom = { attributes: a, count: 0, sum: 0, histogram: new Map() };
      atoms.set(key, atom);
    }
    atom.count++;
    atom.sum += a.value;
    atom.histogram.set(a.value, (atom.histogram.get(a.value) ?? 0) + 1);
  }
  return new WaveDisclosure(
    {
      waveId: "w",
      closed,
      questions: new Map([["q", { scale: { kind: "scale", min: 1, max: 5 }, atoms: [...atoms.values()] }]]),
    },
    disclosureRules({ minGroupSize: min }),
  );
}

const person = (over: Partial<Answer>, i: number): Answer => ({
  department: "Eng",
  office: "Berlin",
  tenureBand: "3y+",
  managerPath: ["ceo", "cto"],
  value: (i % 5) + 1,
  ...over,
});
const many = (n: number, over: Partial<Answer>, from = 0) =>
  Array.from({ length: n }, (_, i) => person(over, i + from));

function oneSideSuppressed(t: import("ava").ExecutionContext, w: WaveDisclosure, a: Filter, b: Filter) {
  const left = w.aggregate("q", a);
  const right = w.aggregate("q", b);
  t.false(left !== null && right !== null && Math.abs(left.count - right.count) < 5, "both sides released");
  return { left, right };
}

test("a department against the same department without its new hires (20 vs 19)", (t) => {
  const w = wave([...many(19, { tenureBand: "3y+" }), ...many(1, { tenureBand: "<1y" }, 19)]);
  const { left } = oneSideSuppressed(t, w, { department: ["Eng"] }, { department: ["Eng"], tenureBand: ["3y+"] });
  t.is(left?.count, 20, "the department itself is shown");
});

test("a subtree against the subtree minus one team", (t) => {
  const w = wave([
    ...many(12, { managerPath: ["ceo", "cto", "lead-a"] }),
    ...many(2, { managerPath: ["ceo", "cto", "lead-b"] }),
  ]);
  const { left } = oneSideSuppressed(t, w, { subtree: "cto" }, { subtree: "lead-a" });
  t.is(left?.count, 14);
});

test("a team with and without its manager", (t) => {
  // The manager answers with their own manager's path; the team reports to them.
  const w = wave([...many(6, { managerPath: ["ceo", "cto"] }, 0), ...many(1, { managerPath: ["ceo"] }, 6)]);
  oneSideSuppressed(t, w, { department: ["Eng"] }, { subtree: "cto" });
});

test("the same group across two waves with one person more: each wave's answers stand alone", (t) => {
  const first = wave(many(5, {}));
  const second = wave(many(6, {}));
  // Both waves show the group: their answers are different unknowns (a wave's answers are new answers), so the
  // difference of the two sums is not anyone's answer. What must not happen is a sub-group of either wave.
  t.is(first.aggregate("q", {})?.count, 5);
  t.is(second.aggregate("q", {})?.count, 6);
  t.is(second.aggregate("q", { office: ["Berlin"] })?.count, 6);
});

test("overlapping filters: office against department when they differ by one person", (t) => {
  const w = wave([
    ...many(8, { department: "Eng", office: "Berlin" }),
    ...many(1, { department: "Eng", office: "Lyon" }, 8),
    ...many(6, { department: "Ops", office: "Lyon" }, 9),
  ]);
  oneSideSuppressed(t, w, { department: ["Eng"] }, { office: ["Berlin"] });
  oneSideSuppressed(t, w, { office: ["Lyon"] }, { department: ["Ops"] });
});

test("a unanimous group is withheld (a mean of 5.0 would pin everyone) and pooled with a neighbour", (t) => {
  const w = wave([...many(6, { department: "Eng", value: 5 }), ...many(7, { department: "Ops" })]);
  t.is(w.aggregate("q", { department: ["Eng"] }), null);
  t.is(w.aggregate("q", { department: ["Ops"] }), null, "complementary suppression: Ops alone would give Eng");
  t.is(w.aggregate("q", {})?.count, 13);
});

test("a suppressed result and an empty one are the same null; an open wave shows nothing", (t) => {
  const w = wave(many(4, {}));
  t.is(w.aggregate("q", {}), null);
  t.is(w.aggregate("q", { department: ["Nobody"] }), null);
  t.is(w.questionResult("q", {}), w.questionResult("q", { department: ["Nobody"] }));
  t.is(wave(many(30, {}), false).aggregate("q", {}), null);
});

test("thresholds: 3–25, never below 3; comments at least the group size", (t) => {
  t.deepEqual(disclosureRules(), { minGroupSize: 5, commentMinimum: 10 });
  t.throws(() => disclosureRules({ minGroupSize: 2 }), { message: /minGroupSize/ });
  t.throws(() => disclosureRules({ minGroupSize: 26 }), { message: /minGroupSize/ });
  t.throws(() => disclosureRules({ minGroupSize: 8, commentMinimum: 5 }), { message: /commentMinimum/ });
  t.is(disclosureRules({ minGroupSize: 12 }).commentMinimum, 12);
});
