// CPU seconds per group of processes while a stretch of a benchmark runs, sampled from /proc (Linux only): where
// the work went, which the wall time alone does not say on a machine whose cores are all busy.
import fs from "node:fs";

/** Linux reports a process's CPU time in USER_HZ ticks, 100 a second on every architecture it runs on. */
const TICKS_PER_SECOND = 100;
/** A process that belongs to no group is looked at again for this long (a PostgreSQL backend names its database
 * in its command line only once the client has logged in). */
const RECHECK_MS = 2000;

export type ProcessInfo = { pid: number; comm: string; cmdline: string };
/** A group: its processes' ids, or a test of a process (its command name and command line). */
export type ProcessGroups = Record<string, number[] | ((p: ProcessInfo) => boolean)>;

function readStat(pid: number): { comm: string; ticks: number; started: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    // From the state field on (field 3): utime and stime are fields 14 and 15, starttime field 22.
    const fields = stat.slice(close + 2).split(" ");
    return {
      comm: stat.slice(stat.indexOf("(") + 1, close),
      ticks: Number(fields[11]) + Number(fields[12]),
      started: fields[19]!,
    };
  } catch {
    return undefined; // gone meanwhile
  }
}

function readCmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
}

/**
 * Starts sampling every `everyMs`; `stop()` returns the CPU seconds each group used since the start, or undefined
 * without /proc. A process that starts meanwhile counts from zero; one that ends counts up to its last sample (at
 * most `everyMs` of its time is missed, and all of it when it lived between two samples: short-lived processes are
 * undercounted).
 */
export function sampleProcessCpu(groups: ProcessGroups, everyMs = 100) {
  if (!fs.existsSync("/proc/self/stat")) return { stop: () => undefined };
  // By pid and start time (a pid can be reused). `group: null`: a process of no group, not read again once it is
  // older than RECHECK_MS (reading every process of the machine 10 times a second would be part of the measure).
  const seen = new Map<string, { group: string | null; first: number; last: number; since: number }>();
  const groupOf = (info: ProcessInfo) =>
    Object.entries(groups).find(([, g]) => (Array.isArray(g) ? g.includes(info.pid) : g(info)))?.[0] ?? null;
  const sample = (initial: boolean) => {
    const now = performance.now();
    for (const entry of fs.readdirSync("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || pid === process.pid) continue;
      const stat = readStat(pid);
      if (!stat) continue;
      const key = `${pid}:${stat.started}`;
      const known = seen.get(key);
      if (known?.group) {
        known.last = stat.ticks;
        continue;
      }
      if (known && now - known.since > RECHECK_MS) continue;
      const group = groupOf({ pid, comm: stat.comm, cmdline: readCmdline(pid) });
      const first = initial ? stat.ticks : (known?.first ?? 0);
      seen.set(key, { group, first, last: stat.ticks, since: known?.since ?? now });
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), everyMs);
  return {
    stop(): Record<string, number> | undefined {
      clearInterval(timer);
      sample(false);
      const seconds: Record<string, number> = Object.fromEntries(Object.keys(groups).map((g) => [g, 0]));
      for (const p of seen.values()) if (p.group) seconds[p.group]! += (p.last - p.first) / TICKS_PER_SECOND;
      return Object.fromEntries(Object.entries(seconds).map(([g, s]) => [g, Number(s.toFixed(2))]));
    },
  };
}
