// 5,000 people from the Graph emulator with Microsoft's throttling on (time-scaled), through the real m365 service:
// the directory equals the tenant; then hires, changes and leavers arrive by delta, each event exactly once.
import path from "node:path";
import { type GraphEmulator, m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import {
  type ChildNode,
  createTestEnvironment,
  query,
  spawnNode,
  startBroker,
  type TestEnvironment,
} from "@hearth/testkit";
import test from "ava";
import type moleculer from "moleculer";
import { createPeopleService } from "../src/people.service.ts";
import { mailboxSettingsSettled } from "./helpers.ts";

let env: TestEnvironment;
let emulator: GraphEmulator;
let m365: ChildNode;
let broker: moleculer.ServiceBroker;

const M365_SERVICE = path.join(import.meta.dirname, "..", "..", "m365", "src", "m365.service.ts");

test.before(async () => {
  emulator = await startGraphEmulator({
    port: 0,
    tenant: { users: 5000, seed: "hearth-people-scale" },
    timeScale: 100,
  });
  env = await createTestEnvironment();
  m365 = spawnNode({
    serviceModules: [M365_SERVICE],
    env: {
      ...env.env,
      ...m365ClientEnv(emulator),
    },
  });
  await m365.ready;
  broker = await startBroker(env.config, [createPeopleService({ scheduler: false })]);
  await broker.waitForServices(["m365"], 10_000);
});

test.after.always(async () => {
  await broker?.stop();
  await m365?.stop();
  await emulator?.close();
  await env?.cleanup();
});

const sql = (text: string, params: unknown[] = []) => query(env.database!.url, text, params);
const sync = () => broker.call("people.runDirectorySync", {}) as Promise<Record<string, unknown>>;

test.serial("5,000 people with throttling on: the directory equals the tenant; delta changes apply once", async (t) => {
  t.timeout(5 * 60_000);
  const first = await sync();
  t.like(first, { kind: "full", status: "completed" });
  const tenant = emulator.control.tenant.records.filter((r) => !r.removed);
  const rows = await sql(
    "select object_id, display_name, department, job_title, mail, manager_id from people.employees",
  );
  t.is(rows.length, tenant.length);
  const byId = new Map(rows.map((r) => [r.object_id, r]));
  const mismatches = tenant.filter((r) => {
    const e = byId.get(r.data.id);
    return (
      !e ||
      e.display_name !== r.data.displayName ||
      e.department !== r.data.department ||
      e.job_title !== r.data.jobTitle ||
      e.mail !== (r.data.mail?.toLowerCase() ?? null) ||
      e.manager_id !== r.managerId
    );
  });
  t.deepEqual(
    mismatches.map((m) => m.data.id),
    [],
  );
  await mailboxSettingsSettled(sql);
  const [{ n: hiredBefore }] = await sql("select count(*)::int as n from people.outbox where event = 'employee.hired'");

  const active = tenant.filter((r) => r.data.accountEnabled);
  const hires = Array.from({ length: 10 }, () =>
    emulator.control.hire({ employeeHireDate: "2026-12-07T00:00:00Z", accountEnabled: true }),
  );
  const movers = active.slice(0, 10).map((r) => r.data.id);
  for (const id of movers) emulator.control.change(id, { jobTitle: "Principal Something" });
  const leavers = active.slice(10, 20).map((r) => r.data.id);
  // Their direct reports lose their manager: Graph reports them too (manager@delta), which is an update each.
  const orphaned = tenant.filter((r) => r.managerId && leavers.includes(r.managerId) && !movers.includes(r.data.id));
  for (const id of leavers) emulator.control.remove(id);
  t.like(await sync(), {
    kind: "incremental",
    status: "completed",
    created: 10,
    // movers, leavers (enabled and leave date change besides employee.left) and the orphaned reports
    updated: 10 + 10 + orphaned.length,
    left: 10,
  });
  await mailboxSettingsSettled(sql);
  const counts = await sql(
    "select event, payload->>'objectId' as id, count(*)::int as n from people.outbox where created_at > now() - interval '1 hour' group by 1, 2",
  );
  const count = (event: string, id: string) => counts.find((c) => c.event === event && c.id === id)?.n ?? 0;
  t.true(hires.every((h) => count("employee.hired", h.id) === 1));
  t.true(movers.every((id) => count("employee.updated", id) === 1));
  t.true(leavers.every((id) => count("employee.left", id) === 1));
  t.true(orphaned.every((r) => count("employee.updated", r.data.id) === 1));
  const [{ n: hiredAfter }] = await sql("select count(*)::int as n from people.outbox where event = 'employee.hired'");
  t.is(hiredAfter, hiredBefore + 10);
  t.like(await sync(), { created: 0, updated: 0, left: 0 });
});
