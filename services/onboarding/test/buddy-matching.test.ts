import test from "ava";
import fc from "fast-check";
import {
  type BuddyCandidate,
  DEFAULT_HARD_RULES,
  DEFAULT_WEIGHTS,
  explain,
  greedyBuddies,
  matchBuddies,
  type NewHire,
  overlapHours,
  pairBlocks,
  scorePair,
} from "../src/domain/buddy-matching.ts";
import { MinCostFlow } from "../src/domain/min-cost-flow.ts";

const TODAY = "2026-03-02";

function hire(over: Partial<NewHire> = {}): NewHire {
  return {
    id: "hire",
    department: "Engineering",
    office: "Berlin",
    timeZone: "Europe/Berlin",
    managerChain: ["mgr", "director", "ceo"],
    languages: ["de", "en"],
    interests: ["climbing", "chess"],
    seniority: 1,
    hireDate: "2026-03-09",
    ...over,
  };
}

function candidate(over: Partial<BuddyCandidate> = {}): BuddyCandidate {
  return {
    id: "cand",
    department: "Engineering",
    office: "Berlin",
    timeZone: "Europe/Berlin",
    managerChain: ["mgr2", "director", "ceo"],
    languages: ["de"],
    interests: ["chess"],
    seniority: 3,
    active: true,
    hireDate: "2022-01-10",
    optedIn: true,
    capacity: 2,
    load: 0,
    pausedUntil: null,
    leaveDate: null,
    lastBuddyAssignedAt: null,
    ...over,
  };
}

test("a candidate meeting every rule may buddy the hire", (t) => {
  t.deepEqual(pairBlocks(hire(), candidate(), DEFAULT_HARD_RULES, TODAY), []);
});

const blocking: Array<[string, Partial<BuddyCandidate>, string]> = [
  ["inactive", { active: false }, "inactive"],
  ["not opted in", { optedIn: false }, "not-opted-in"],
  ["five months of tenure", { hireDate: "2025-10-05" }, "tenure"],
  ["the direct manager", { id: "mgr" }, "management-chain"],
  ["the director above the manager", { id: "director" }, "management-chain"],
  ["capacity taken", { capacity: 2, load: 2 }, "capacity"],
  ["capacity above 3 clamps to 3", { capacity: 9, load: 3 }, "capacity"],
  ["paused until next month", { pausedUntil: "2026-04-01" }, "paused"],
  ["leaving", { leaveDate: "2026-05-31" }, "leaving"],
  ["buddied someone 10 days ago", { lastBuddyAssignedAt: "2026-02-20T10:00:00Z" }, "cool-down"],
  ["in Sydney (no working-hours overlap with Berlin)", { timeZone: "Australia/Sydney" }, "time-zone-overlap"],
];
for (const [name, over, reason] of blocking) {
  test(`hard rule blocks: ${name}`, (t) => {
    t.true(pairBlocks(hire(), candidate(over), DEFAULT_HARD_RULES, TODAY).includes(reason as never));
    const result = matchBuddies([hire()], [candidate(over)], { today: TODAY });
    t.deepEqual(result.matches, [], "the matcher does not pair them");
    t.deepEqual(result.unmatched, ["hire"]);
  });
}

test("each hard rule can be switched off or tuned", (t) => {
  const rules = {
    ...DEFAULT_HARD_RULES,
    minTenureMonths: 3,
    coolDownDays: 5,
    minOverlapHours: null,
    excludeManagementChain: false,
  };
  t.deepEqual(pairBlocks(hire(), candidate({ hireDate: "2025-10-05" }), rules, TODAY), []);
  t.deepEqual(pairBlocks(hire(), candidate({ lastBuddyAssignedAt: "2026-02-20T10:00:00Z" }), rules, TODAY), []);
  t.deepEqual(pairBlocks(hire(), candidate({ timeZone: "Australia/Sydney" }), rules, TODAY), []);
  t.deepEqual(pairBlocks(hire(), candidate({ id: "mgr" }), rules, TODAY), []);
});

test("time-zone overlap follows daylight saving: New York and Berlin share 3 h in winter, 2 h in the March gap", (t) => {
  const ny = { timeZone: "America/New_York" };
  const berlin = { timeZone: "Europe/Berlin" };
  t.is(overlapHours(ny, berlin, "2026-01-15"), 2); // 15:00–17:00 Berlin = 9:00–11:00 NY (6 h apart)
  t.is(overlapHours(ny, berlin, "2026-03-20"), 3); // US on DST, Europe not yet: 5 h apart
  t.is(overlapHours(ny, berlin, "2026-07-01"), 2);
  t.is(overlapHours({ timeZone: "Asia/Kolkata" }, berlin, "2026-01-15"), 3.5);
});

test("the explanation names what the two share", (t) => {
  const b = scorePair(
    hire(),
    candidate({ interests: ["Chess", "climbing", "go"], department: "Sales" }),
    DEFAULT_WEIGHTS,
    TODAY,
  );
  t.is(
    explain(b),
    "neighbouring team, same office, 2 shared interests (climbing, chess), speaks de, 2 levels more senior, 8 h overlap",
  );
});

test("the batch is optimal where hire-by-hire greedy is not", (t) => {
  // A: fits X well and Y a bit; B fits only X. Greedy gives X to A (first) and leaves B without a buddy.
  const hires = [
    hire({ id: "A", hireDate: "2026-03-02", interests: ["chess"] }),
    hire({ id: "B", hireDate: "2026-03-09", interests: ["chess"] }),
  ];
  const candidates = [
    candidate({ id: "X", capacity: 1 }),
    candidate({
      id: "Y",
      capacity: 1,
      timeZone: "America/New_York",
      office: "NYC",
      department: "Sales",
      interests: [],
    }),
  ];
  const options = { today: TODAY, rules: { minOverlapHours: null } };
  const candidatesB = [
    candidates[0] as BuddyCandidate,
    { ...(candidates[1] as BuddyCandidate), timeZone: "Asia/Tokyo" },
  ];
  const optimal = matchBuddies(hires, candidatesB, { today: TODAY });
  const greedy = greedyBuddies(hires, candidatesB, { today: TODAY });
  t.is(optimal.matches.length, 1);
  t.is(greedy.matches.length, 1);
  const both = matchBuddies(hires, candidates, options);
  t.is(both.matches.length, 2);
  t.true(both.totalScore >= greedyBuddies(hires, candidates, options).totalScore);
});

test("min-cost flow: a known small instance", (t) => {
  // s=0, t=3: two paths, cheap one with capacity 1.
  const g = new MinCostFlow(4);
  g.addEdge(0, 1, 1, 1);
  g.addEdge(0, 2, 2, 5);
  g.addEdge(1, 3, 2, 1);
  g.addEdge(2, 3, 2, 1);
  t.deepEqual(g.flow(0, 3, 3), { flow: 3, cost: 2 + 6 + 6 });
});

// ---------- property: optimal against brute force ----------

const ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "Asia/Tokyo", "Asia/Kolkata"];
const OFFICES = ["Berlin", "London", "NYC"];
const DEPTS = ["Eng", "Sales", "HR"];
const INTERESTS = ["chess", "climbing", "cooking", "running", "music"];
const LANGS = ["en", "de", "fr"];

const arbPerson = fc.record({
  department: fc.constantFrom(...DEPTS),
  office: fc.constantFrom(...OFFICES),
  timeZone: fc.constantFrom(...ZONES),
  manager: fc.integer({ min: 0, max: 3 }),
  languages: fc.subarray(LANGS),
  interests: fc.subarray(INTERESTS),
  seniority: fc.integer({ min: 0, max: 5 }),
});

const arbCase = fc.record({
  hires: fc.array(arbPerson, { minLength: 1, maxLength: 5 }),
  candidates: fc.array(
    fc.record({ p: arbPerson, capacity: fc.integer({ min: 1, max: 3 }), load: fc.integer({ min: 0, max: 1 }) }),
    { minLength: 1, maxLength: 5 },
  ),
  managerIsCandidate: fc.boolean(),
});

type P = {
  department: string;
  office: string;
  timeZone: string;
  manager: number;
  languages: string[];
  interests: string[];
  seniority: number;
};
function build(c: {
  hires: P[];
  candidates: Array<{ p: P; capacity: number; load: number }>;
  managerIsCandidate: boolean;
}) {
  const hires: NewHire[] = c.hires.map((q, i) => {
    return {
      id: `h${i}`,
      department: q.department,
      office: q.office,
      timeZone: q.timeZone,
      managerChain: c.managerIsCandidate ? [`c${q.manager}`, "boss"] : [`m${q.manager}`, "boss"],
      languages: q.languages,
      interests: q.interests,
      seniority: q.seniority,
      hireDate: `2026-03-0${i + 1}`,
    };
  });
  const candidates: BuddyCandidate[] = c.candidates.map(({ p, capacity, load }, j) =>
    candidate({
      id: `c${j}`,
      department: p.department,
      office: p.office,
      timeZone: p.timeZone,
      managerChain: [`m${p.manager}`, "boss"],
      languages: p.languages,
      interests: p.interests,
      seniority: p.seniority,
      capacity,
      load,
    }),
  );
  return { hires, candidates };
}

/** Every assignment (each hire to a feasible candidate or nobody), best by (count, score in thousandths). */
function bruteForce(hires: NewHire[], candidates: BuddyCandidate[]): { count: number; score: number } {
  const left = candidates.map((c) => Math.max(1, Math.min(3, c.capacity)) - c.load);
  let best = { count: 0, score: 0 };
  const go = (i: number, count: number, score: number) => {
    if (i === hires.length) {
      if (count > best.count || (count === best.count && score > best.score)) best = { count, score };
      return;
    }
    go(i + 1, count, score);
    candidates.forEach((c, j) => {
      if ((left[j] as number) <= 0) return;
      if (pairBlocks(hires[i] as NewHire, c, DEFAULT_HARD_RULES, TODAY).length > 0) return;
      const s = Math.round(scorePair(hires[i] as NewHire, c, DEFAULT_WEIGHTS, TODAY).score * 1000);
      left[j] = (left[j] as number) - 1;
      go(i + 1, count + 1, score + s);
      left[j] = (left[j] as number) + 1;
    });
  };
  go(0, 0, 0);
  return best;
}

const thousandths = (r: { matches: Array<{ score: number }> }) =>
  r.matches.reduce((sum, m) => sum + Math.round(m.score * 1000), 0);

test("property: the matcher is optimal against brute force, with and without pruning", (t) => {
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(arbCase, (c) => {
        const { hires, candidates } = build(c);
        const expected = bruteForce(hires, candidates);
        for (const topK of [1, 2, Number.POSITIVE_INFINITY]) {
          const result = matchBuddies(hires, candidates, { today: TODAY, topK });
          if (result.matches.length !== expected.count || thousandths(result) !== expected.score) return false;
          // Capacities and hard rules hold in the result.
          const load = new Map<string, number>();
          for (const m of result.matches) {
            load.set(m.buddyId, (load.get(m.buddyId) ?? 0) + 1);
            const h = hires.find((x) => x.id === m.hireId) as NewHire;
            const b = candidates.find((x) => x.id === m.buddyId) as BuddyCandidate;
            if (pairBlocks(h, b, DEFAULT_HARD_RULES, TODAY).length > 0) return false;
          }
          for (const [id, n] of load) {
            const b = candidates.find((x) => x.id === id) as BuddyCandidate;
            if (n > Math.min(3, b.capacity) - b.load) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    ),
  );
});

test("property: greedy never beats the optimum", (t) => {
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(arbCase, (c) => {
        const { hires, candidates } = build(c);
        const opt = matchBuddies(hires, candidates, { today: TODAY, topK: 1 });
        const greedy = greedyBuddies(hires, candidates, { today: TODAY });
        return (
          opt.matches.length > greedy.matches.length ||
          (opt.matches.length === greedy.matches.length && thousandths(opt) >= thousandths(greedy))
        );
      }),
      { numRuns: 200 },
    ),
  );
});
