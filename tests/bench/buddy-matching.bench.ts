// Buddy matching for a batch: 1,000 new hires against a directory of 50,000 employees (about a quarter opted in as
// buddies, with capacities, loads, pauses, leavers, cool-downs, 12 offices in 9 time zones, manager chains).
// Times the optimal assignment (top-K pruning + min-cost flow + the optimality certificate, ADR 0005) and runs
// the hire-by-hire greedy baseline on the same data.
//
//   npm run bench -- buddy-matching [hires=1000] [employees=50000]
import {
  type BuddyCandidate,
  greedyBuddies,
  matchBuddies,
  type NewHire,
} from "../../services/onboarding/src/domain/buddy-matching.ts";

const OFFICES: Array<[string, string]> = [
  ["Berlin", "Europe/Berlin"],
  ["Munich", "Europe/Berlin"],
  ["London", "Europe/London"],
  ["Dublin", "Europe/Dublin"],
  ["Paris", "Europe/Paris"],
  ["Warsaw", "Europe/Warsaw"],
  ["New York", "America/New_York"],
  ["Toronto", "America/Toronto"],
  ["Austin", "America/Chicago"],
  ["San Francisco", "America/Los_Angeles"],
  ["Bangalore", "Asia/Kolkata"],
  ["Singapore", "Asia/Singapore"],
];
const LANGUAGES = ["en", "de", "fr", "es", "pl", "hi", "zh", "pt", "it", "nl", "ga", "ja"];

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generate(hireCount: number, employeeCount: number, seed = 7) {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)] as T;
  const some = <T>(xs: readonly T[], max: number) => {
    const n = Math.floor(r() * (max + 1));
    return [...new Set(Array.from({ length: n }, () => pick(xs)))];
  };
  const interests = Array.from({ length: 60 }, (_, i) => `interest-${i}`);
  const departments = Array.from({ length: 40 }, (_, i) => `Department ${i}`);
  const employees: BuddyCandidate[] = [];
  for (let i = 0; i < employeeCount; i++) {
    // A tree: each person's manager has a smaller index, so chains end at employee 0.
    const managerChain: string[] = [];
    for (let m = i; m > 0; ) {
      m = Math.floor((m - 1) / 8);
      managerChain.push(`e${m}`);
    }
    const [office, timeZone] = pick(OFFICES);
    const tenureDays = Math.floor(r() * 3000);
    const optedIn = r() < 0.25;
    employees.push({
      id: `e${i}`,
      department: pick(departments),
      office,
      timeZone,
      managerChain,
      languages: ["en", ...some(LANGUAGES, 2)],
      interests: some(interests, 5),
      seniority: Math.floor(r() * 7),
      active: r() > 0.01,
      hireDate: new Date(Date.UTC(2026, 2, 1) - tenureDays * 86_400_000).toISOString().slice(0, 10),
      optedIn,
      capacity: 1 + Math.floor(r() * 3),
      load: r() < 0.2 ? 1 : 0,
      pausedUntil: r() < 0.05 ? "2026-06-01" : null,
      leaveDate: r() < 0.02 ? "2026-04-30" : null,
      lastBuddyAssignedAt: r() < 0.1 ? "2026-02-20T09:00:00Z" : null,
    });
  }
  const hires: NewHire[] = Array.from({ length: hireCount }, (_, i) => {
    const [office, timeZone] = pick(OFFICES);
    const manager = Math.floor(r() * employeeCount);
    return {
      id: `h${i}`,
      department: pick(departments),
      office,
      timeZone,
      managerChain: [`e${manager}`, ...(employees[manager] as BuddyCandidate).managerChain],
      languages: ["en", ...some(LANGUAGES, 1)],
      interests: some(interests, 4),
      seniority: Math.floor(r() * 3),
      hireDate: `2026-03-${String(2 + (i % 27)).padStart(2, "0")}`,
    };
  });
  return { hires, employees };
}

export async function run(args: string[]) {
  const hireCount = Number(args[0] ?? 1000);
  const employeeCount = Number(args[1] ?? 50_000);
  const { hires, employees } = generate(hireCount, employeeCount);
  const options = { today: "2026-03-01" };
  const optedIn = employees.filter((e) => e.optedIn).length;

  const start = performance.now();
  const optimal = matchBuddies(hires, employees, options);
  const seconds = (performance.now() - start) / 1000;

  const greedyStart = performance.now();
  const greedy = greedyBuddies(hires, employees, options);
  const greedySeconds = (performance.now() - greedyStart) / 1000;

  console.log(`employees ${employeeCount} (opted in ${optedIn}), hires ${hireCount}`);
  console.log(
    `optimal: ${optimal.matches.length} matched, score ${optimal.totalScore}, ${seconds.toFixed(3)} s, ` +
      `K ≤ ${optimal.candidatesPerHire}, ${optimal.rounds} solve(s)`,
  );
  console.log(`greedy:  ${greedy.matches.length} matched, score ${greedy.totalScore}, ${greedySeconds.toFixed(3)} s`);
  console.log(`score ratio optimal/greedy: ${(optimal.totalScore / greedy.totalScore).toFixed(4)}`);
  return {
    bench: "buddy-matching",
    hires: hireCount,
    candidates: employeeCount,
    seconds: Math.round(seconds * 1000) / 1000,
    score: optimal.totalScore,
    greedyScore: greedy.totalScore,
  };
}
