// CPU seconds per group of processes while a stretch of a benchmark runs, sampled from /proc (Linux only): where
// the work went, which the wall time alone does not say on a machine whose cores are all busy.
import fs from "node:fs";

/** Linux reports a process's CPU time in USER_HZ ticks, 100 a second on every architecture it runs on. */
const TICKS_PER_SECOND = 100;

/** A group is a list of process ids, or a command name (`comm`: "postgres", "nats-server") for all its processes. */
export type ProcessGroups = Record<string, number[] | string>;

function cpuTicks(pid: number): { comm: string; ticks: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    // utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name.
    return { comm: stat.slice(stat.indexOf("(") + 1, close), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined; // gone meanwhile
  }
}

/**
 * Starts sampling every `everyMs`; `stop()` returns the CPU seconds each group used since the start, or undefined
 * without /proc. Processes that start meanwhile (PostgreSQL backends) count from zero; one that ends counts up to
 * its last sample (at most `everyMs` of its time is missed).
 */
export function sampleProcessCpu(groups: ProcessGroups, everyMs = 100) {
  if (!fs.existsSync("/proc/self/stat")) return { stop: () => undefined };
  // null: a process of no group, not read again (reading every process of the machine 10 times a second would be
  // part of what is measured).
  const seen = new Map<number, { group: string; first: number; last: number } | null>();
  const groupOf = (pid: number, comm: string) =>
    Object.entries(groups).find(([, g]) => (typeof g === "string" ? g === comm : g.includes(pid)))?.[0];
  const sample = (initial: boolean) => {
    for (const entry of fs.readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      const known = seen.get(pid);
      if (known === null) continue;
      const now = cpuTicks(pid);
      if (!now) continue;
      if (known) {
        known.last = now.ticks;
        continue;
      }
      const group = groupOf(pid, now.comm);
      seen.set(pid, group ? { group, first: initial ? now.ticks : 0, last: now.ticks } : null);
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), everyMs);
  return {
    stop(): Record<string, number> | undefined {
      clearInterval(timer);
      sample(false);
      const seconds: Record<string, number> = Object.fromEntries(Object.keys(groups).map((g) => [g, 0]));
      for (const p of seen.values()) if (p) seconds[p.group]! += (p.last - p.first) / TICKS_PER_SECOND;
      return Object.fromEntries(Object.entries(seconds).map(([g, s]) => [g, Number(s.toFixed(2))]));
    },
  };
}
