// The demo (npm start): the people service seeds the demo company, its employee.hired events start journeys here,
// and the opted-in demo colleagues are matched as buddies.

import { demoUserObjectId as oid } from "@hearth/platform";
import { createTestEnvironment, query, startBroker, waitFor } from "@hearth/testkit";
import test from "ava";
import { createPeopleService } from "../../people/src/people.service.ts";
import { createOnboardingService } from "../src/onboarding.service.ts";

test("npm start shows journeys in progress with buddies proposed", async (t) => {
  const env = await createTestEnvironment({ nats: false, env: { SEED_DEMO: "always" } });
  t.teardown(() => env.cleanup());
  const broker = await startBroker(env.config, [
    createPeopleService({ scheduler: false }),
    createOnboardingService({ scheduler: false }),
  ]);
  t.teardown(() => broker.stop());
  const sql = (text: string) => query(env.database!.url, text) as Promise<any[]>;
  await waitFor(
    "the demo new hire's journey",
    () => sql(`select 1 from onboarding.journeys where new_hire_id = '${oid("new.hire@contoso.example")}'`),
    (rows) => rows.length === 1,
  );
  const matched = (await broker.call("onboarding.runBuddyMatching", {})) as any;
  const hire = matched.matches.find((m: any) => m.newHireId === oid("new.hire@contoso.example"));
  t.truthy(hire, JSON.stringify(matched));
  t.regex(hire.explanation, /same department/);
  const mine = (await broker.call(
    "onboarding.getMyJourney",
    {},
    {
      meta: {
        caller: {
          tenantId: (broker.getLocalService("onboarding") as any).settings.tenantId,
          objectId: oid("new.hire@contoso.example"),
          roles: ["Employee"],
        },
      },
    },
  )) as any;
  t.is(mine.journey.progress.total, 10);
  t.is(mine.journey.buddyStatus, "proposed");
  // hr@ owns the HR steps (their cards go to Teams), whichever of the directory events came first.
  t.is(mine.journey.tasks.find((x: any) => x.owner === "hr")?.ownerId, oid("hr@contoso.example"));
  // Colleagues who joined months ago are staff: no journey of their own.
  const journeys = await sql(`select hire_date from onboarding.journeys`);
  t.true(journeys.every((j) => j.hire_date >= new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10)));
});
