// `npm run hearth -- sync` against the Graph emulator: the CLI starts people and m365 on its own (no NATS), shows
// progress, and ends with a summary; a second run reads only the changes, `--full` reads everyone again.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { REPO_ROOT } from "@hearth/platform";
import { createTestEnvironment, query } from "@hearth/testkit";
import test from "ava";

const CLI = path.join(REPO_ROOT, "packages/cli/src/hearth.ts");

test("hearth sync: progress lines, a summary, then only changes; --full reads everyone again", async (t) => {
  const emulator = await startGraphEmulator({
    port: 0,
    tenant: { users: 180, seed: "hearth-cli-sync" },
    throttling: false,
    deltaPageSize: 20,
  });
  t.teardown(() => emulator.close());
  const env = await createTestEnvironment({ nats: false });
  t.teardown(() => env.cleanup());
  const sync = async (...args: string[]) => {
    const { stdout } = await promisify(execFile)(process.execPath, [CLI, "sync", ...args], {
      cwd: REPO_ROOT,
      // Pages of 20, so that progress shows between pages.
      env: { ...process.env, ...env.env, ...m365ClientEnv(emulator), PEOPLE_SYNC_PAGE_SIZE: "20" },
    });
    return stdout;
  };

  const first = await sync();
  // Not a terminal: plain progress lines, then the summary.
  t.regex(first, /full sync: \d+ people read · pages \d+/);
  t.regex(first, /full sync completed in [\d.]+ s: 180 people read, 180 created, 0 updated, 0 left \(9 pages\)/);
  // Then the second stage: everyone's mailbox settings, and the sync waits for them.
  t.regex(first, /mailbox settings: \d+ people still to read/);
  t.regex(first, /mailbox settings of new and changed people read [\d.]+ s after the pages/);
  const [{ n, due, tz }] = await query(
    env.database!.url,
    `select count(*)::int as n, count(*) filter (where mailbox_due)::int as due,
       count(time_zone)::int as tz from people.employees`,
  );
  t.is(n, 180);
  t.is(due, 0);
  t.true(tz > 0, "time zones were read");

  // A leaver nobody reports to, so that no one else changes with them.
  const records = emulator.control.tenant.records;
  const leaver = records.find((r) => !r.removed && !records.some((o) => o.managerId === r.data.id))!;
  emulator.control.hire({ department: "Research" });
  emulator.control.remove(leaver.data.id);
  const second = await sync();
  // The leaver counts as updated too (their status changed) as well as left.
  t.regex(second, /incremental sync completed in [\d.]+ s: 1 people read, 1 created, 1 updated, 1 left/);

  const full = await sync("--full");
  t.regex(full, /full sync completed in [\d.]+ s: 180 people read, 0 created, 0 updated, 0 left/);
});
