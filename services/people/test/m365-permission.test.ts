// The tenant has not granted User.Read.All: the sync fails with an error naming the permission and stores nothing.
import path from "node:path";
import { m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { createTestEnvironment, query, spawnNode, startBroker } from "@hearth/testkit";
import test from "ava";
import { createPeopleService } from "../src/people.service.ts";

const M365_SERVICE = path.join(import.meta.dirname, "..", "..", "m365", "src", "m365.service.ts");

test("a permission missing in the tenant: a clear error, no partial state", async (t) => {
  const emulator = await startGraphEmulator({
    port: 0,
    tenant: { users: 30, seed: "hearth-people-perm" },
    throttling: false,
    timeScale: 100,
  });
  t.teardown(() => emulator.close());
  emulator.control.revoke("User.Read.All", emulator.control.app().clientId);
  const env = await createTestEnvironment();
  t.teardown(() => env.cleanup());
  const m365 = spawnNode({
    serviceModules: [M365_SERVICE],
    env: {
      ...env.env,
      ...m365ClientEnv(emulator),
    },
  });
  t.teardown(() => m365.stop());
  await m365.ready;
  const broker = await startBroker(env.config, [createPeopleService({ scheduler: false })]);
  t.teardown(() => broker.stop());
  await broker.waitForServices(["m365"], 10_000);

  const error = await t.throwsAsync(broker.call("people.runDirectorySync", {}));
  t.regex(error!.message, /User\.Read\.All/);
  const sql = (text: string) => query(env.database!.url, text);
  t.is((await sql("select count(*)::int as n from people.employees"))[0].n, 0);
  t.is((await sql("select count(*)::int as n from people.outbox"))[0].n, 0);
  const [run] = await sql("select status, pages, error from people.sync_run");
  t.like(run, { status: "interrupted", pages: 0 });
  t.regex(run.error, /User\.Read\.All/);
  const status = (await broker.call("people.getDirectorySync", {})) as { current: { error: string } };
  t.regex(status.current.error, /User\.Read\.All/);
});
