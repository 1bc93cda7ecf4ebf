// Onboarding end to end: the emulator's control API hires a person → the directory sync (people through the real
// m365 service, over NATS) → employee.hired → a journey and a buddy → the new hire sees their tasks → each owner
// (HR's owner named in the onboarding settings included) completes theirs through a Teams Action.Execute on the
// gateway's bot endpoint → progress → the journey completes. Every wait is on a state, never on a duration.
import type { AddressInfo } from "node:net";
import path from "node:path";
import tls from "node:tls";
import { actionContracts } from "@hearth/contracts";
import { createGatewayService } from "@hearth/gateway/src/gateway.service.ts";
import { type GraphEmulator, m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import {
  type ChildNode,
  createTestEnvironment,
  query,
  spawnNode,
  startBroker,
  type TestEnvironment,
  waitFor,
} from "@hearth/testkit";
import test from "ava";
import type moleculer from "moleculer";
import { createOnboardingService } from "../../services/onboarding/src/onboarding.service.ts";
import { createPeopleService } from "../../services/people/src/people.service.ts";

let env: TestEnvironment;
let emulator: GraphEmulator;
let m365: ChildNode;
let broker: moleculer.ServiceBroker;
let endpoint: string;

const M365_SERVICE = path.join(import.meta.dirname, "..", "..", "services", "m365", "src", "m365.service.ts");

test.before(async () => {
  emulator = await startGraphEmulator({ port: 0, tenant: { users: 40, seed: "onboarding-e2e" }, throttling: false });
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), emulator.caPem]);
  const app = emulator.control.app();
  env = await createTestEnvironment({
    env: {
      PORT: "0",
      SEED_DEMO: "off",
      BOT_APP_ID: app.clientId,
      BOT_TENANT_ID: emulator.tenantId,
      BOT_OPENID_URL: emulator.bot.openIdMetadataUrl,
    },
  });
  m365 = spawnNode({ serviceModules: [M365_SERVICE], env: { ...env.env, ...m365ClientEnv(emulator) } });
  await m365.ready;
  broker = await startBroker(env.config, [
    createGatewayService(env.config, Object.values(actionContracts)),
    createPeopleService({ scheduler: false }),
    createOnboardingService({ scheduler: false }),
  ]);
  await broker.waitForServices(["m365"], 10_000);
  const gateway = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
  endpoint = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}/api/messages`;
});

test.after.always(async () => {
  await broker?.stop();
  await m365?.stop();
  await emulator?.close();
  await env?.cleanup();
});

const sql = (text: string, params: unknown[] = []) => query(env.database!.url, text, params) as Promise<any[]>;

test("a hire in Microsoft 365 becomes a journey with a buddy, completed task by task from Teams cards", async (t) => {
  const tenantId = (broker.getLocalService("onboarding") as unknown as { settings: { tenantId: string } }).settings
    .tenantId;
  const as = (objectId: string, roles = ["Employee"]) => ({ meta: { caller: { tenantId, objectId, roles } } });
  await broker.call("people.runDirectorySync", {});
  // Everyone already in the directory is known to onboarding; only those starting in the future or within the last
  // week (the auto-start window) have journeys: the first sync does not turn existing staff into new hires.
  const staff = await waitFor(
    "the directory in onboarding",
    () => sql(`select employee_id, hire_date, department from onboarding.buddy_profiles`),
    (rows) => rows.length >= 40,
  );
  const before = await sql(`select new_hire_id from onboarding.journeys`);
  const weekAgo = new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10);
  t.true(before.every((j) => staff.find((s) => s.employee_id === j.new_hire_id)?.hire_date >= weekAgo));

  // The manager-to-be and three colleagues who opted in as buddies.
  const manager = emulator.control.tenant.records.find((r) => r.data.department)!.data;
  const hireDate = new Date(Date.now() + 5 * 86_400_000).toISOString().slice(0, 10);
  const hire = emulator.control.hire({
    displayName: "Nia Okoro",
    givenName: "Nia",
    surname: "Okoro",
    department: manager.department,
    managerId: manager.id,
    employeeHireDate: `${hireDate}T00:00:00Z`,
    office: undefined,
  });
  const tenured = staff.filter((s) => s.employee_id !== manager.id && s.hire_date && s.hire_date < "2025-01-01");
  // HR names who owns the HR steps (they act on them from Teams like everyone else).
  const hrOwner = tenured[3]!.employee_id;
  await broker.call("onboarding.updateSettings", { hrOwnerIds: [hrOwner] }, as(manager.id, ["HR"]));
  for (const s of tenured.slice(0, 3)) {
    await broker.call(
      "onboarding.updateMyBuddyProfile",
      { optedIn: true, interests: ["chess"], languages: ["en", "de", "fr", "es"], capacity: 2 },
      as(s.employee_id),
    );
  }

  await broker.call("people.runDirectorySync", {});
  const [journey] = await waitFor(
    "the new hire's journey",
    () => sql(`select * from onboarding.journeys where new_hire_id = $1`, [hire.id]),
    (rows) => rows.length === 1,
  );
  t.is(journey.manager_id, manager.id);

  const matched = (await broker.call("onboarding.runBuddyMatching", {}, as(manager.id, ["HR"]))) as any;
  const buddyId: string = matched.matches.find((m: any) => m.newHireId === hire.id)?.buddyId;
  t.truthy(buddyId, JSON.stringify(matched));
  const accepted = await emulator.bot.invokeCardAction(endpoint, {
    user: buddyId,
    verb: "onboarding.acceptBuddy",
    data: { journeyId: journey.id },
  });
  t.regex(JSON.stringify(accepted.body), /Thank you for being a buddy/);

  const mine = (await broker.call("onboarding.getMyJourney", {}, as(hire.id))) as any;
  t.is(mine.journey.buddyStatus, "accepted");
  t.is(mine.journey.progress.total, 10);
  t.true(mine.journey.tasks.some((x: any) => x.owner === "newHire"));

  t.is(mine.journey.tasks.find((x: any) => x.owner === "hr")?.ownerId, hrOwner);
  let done = 0;
  for (const task of mine.journey.tasks) {
    const owners = { newHire: hire.id, manager: manager.id, buddy: buddyId, hr: hrOwner } as Record<string, string>;
    const reply = await emulator.bot.invokeCardAction(endpoint, {
      user: owners[task.owner]!,
      verb: "onboarding.completeTask",
      data: { taskId: task.id },
    });
    t.is(reply.status, 200);
    t.regex(JSON.stringify(reply.body), new RegExp(`${done + 1} of 10 tasks`));
    done++;
    const progress = (await broker.call("onboarding.getJourney", { id: journey.id }, as(hire.id))) as any;
    t.is(progress.progress.done, done);
  }
  const finished = (await broker.call("onboarding.getJourney", { id: journey.id }, as(hire.id))) as any;
  t.is(finished.status, "completed");
  const events = await sql(
    `select event, count(*)::int as n from onboarding.outbox where payload->>'journeyId' = $1 group by 1`,
    [journey.id],
  );
  t.deepEqual(Object.fromEntries(events.map((e) => [e.event, e.n])), {
    "onboarding.buddy.accepted": 1,
    "onboarding.buddy.assigned": 1,
    "onboarding.journey.completed": 1,
    "onboarding.journey.started": 1,
    "onboarding.task.completed": 10,
  });
});
