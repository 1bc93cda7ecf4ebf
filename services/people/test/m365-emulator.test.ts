// The directory sync end to end: the real m365 service (a child node, over NATS) against the Graph emulator's
// tenant, hires, changes and removals made through the emulator's control API.
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

// Spawned by path, never imported: people talks to m365 only through its contract.
const M365_SERVICE = path.join(import.meta.dirname, "..", "..", "m365", "src", "m365.service.ts");

test.before(async () => {
  emulator = await startGraphEmulator({
    port: 0,
    tenant: { users: 120, seed: "hearth-people" },
    timeScale: 100,
    throttling: false,
    deltaPageSize: 25,
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
  broker = await startBroker(env.config, [createPeopleService({ scheduler: false, syncPageSize: 25 })]);
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
const settled = () => mailboxSettingsSettled(sql);
const events = async () => {
  await settled();
  return new Map(
    (
      await sql(
        "select event || ' ' || (payload->>'objectId') as key, count(*)::int as n from people.outbox group by 1 order by 1",
      )
    ).map((r) => [r.key as string, r.n as number]),
  );
};

test.serial("first sync reads the tenant; hires, changes and removals arrive by delta, each event once", async (t) => {
  const first = await sync();
  t.like(first, { kind: "full", status: "completed" });
  t.true((first.pages as number) >= 5);
  const visible = emulator.control.tenant.records.filter((r) => !r.removed).length;
  const [{ n }] = await sql("select count(*)::int as n from people.employees");
  t.is(n, visible);
  await settled();
  const [{ tz }] = await sql("select count(*)::int as tz from people.employees where time_zone is not null");
  t.true(tz > 0, "mailbox time zones were fetched");
  const before = await events();
  t.true([...before.values()].every((v) => v === 1));

  const hired = emulator.control.hire({ department: "Engineering", employeeHireDate: "2026-12-01T00:00:00Z" });
  const someone = emulator.control.tenant.records.find(
    (r) => !r.removed && r.data.accountEnabled && r.data.id !== hired.id,
  )!;
  const moving = someone.data.id;
  const newDepartment = someone.data.department === "Finance" ? "Legal" : "Finance";
  emulator.control.change(moving, { department: newDepartment });
  const leaving = emulator.control.tenant.records.find(
    (r) => !r.removed && r.data.accountEnabled && r.data.id !== moving && r.data.id !== hired.id,
  )!.data.id;
  emulator.control.remove(leaving, { hard: true });

  t.like(await sync(), { kind: "incremental", status: "completed", created: 1, left: 1 });
  const after = await events();
  t.is(after.get(`employee.hired ${hired.id}`), 1);
  t.is(after.get(`employee.updated ${moving}`), 1);
  t.is(after.get(`employee.left ${leaving}`), 1);
  const [moved] = await sql(
    "select payload from people.outbox where event = 'employee.updated' and payload->>'objectId' = $1",
    [moving],
  );
  t.is(moved.payload.changes.department, newDepartment);

  t.like(await sync(), { kind: "incremental", created: 0, updated: 0, left: 0 });
  t.deepEqual(await events(), after);

  // The delta token expires: a full resync, and nothing is announced twice.
  emulator.control.expireDeltaTokens();
  t.like(await sync(), { kind: "full", status: "completed", created: 0 });
  t.deepEqual(await events(), after);
});
