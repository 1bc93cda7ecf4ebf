// Onboarding end to end: the emulator's control API hires a person → the directory sync (people through the real
// m365 service, over NATS) → employee.hired → a journey and a buddy → the new hire sees their tasks → each owner
// (HR's owner named in the onboarding settings included) completes theirs through a Teams Action.Execute on the
// gateway's bot endpoint → progress → the journey completes. Every wait is on a state, never on a duration.
import type { GraphEmulator } from "@hearth/graph-emulator";
import { waitFor } from "@hearth/testkit";
import test from "ava";
import type moleculer from "moleculer";
import { createOnboardingService } from "../../services/onboarding/src/onboarding.service.ts";
import { createPeopleService } from "../../services/people/src/people.service.ts";
import { startTeamsTenant, type TeamsTenant } from "./fixtures/teams-tenant.ts";

let tenant: TeamsTenant;
let emulator: GraphEmulator;
let broker: moleculer.ServiceBroker;
let endpoint: string;

test.before(async () => {
  tenant = await startTeamsTenant({
    seed: "onboarding-e2e",
    services: () => [createPeopleService({ scheduler: false }), createOnboardingService({ scheduler: false })],
  });
  ({ emulator, broker, endpoint } = tenant);
});

test.after.always(() => tenant?.close());

const sql = (text: string, params: unknown[] = []) => tenant.sql(text, params);

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
    // The card that answers speaks the Teams client's language (the invoke's locale: the person's in the tenant).
    const locale =
      emulator.control.tenant.records.find((r) => r.data.id === owners[task.owner])?.data.preferredLanguage ?? "en";
    const progressText = String(locale).startsWith("de") ? `${done + 1} von 10 Aufgaben` : `${done + 1} of 10 tasks`;
    t.regex(JSON.stringify(reply.body), new RegExp(progressText));
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
