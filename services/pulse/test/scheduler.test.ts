// The wave schedule with two replicas of the pulse service on one database: one runs it per period (a lease claimed
// with `for update skip locked`), a wave is never opened twice, and closing records pulse.wave.closed once.
import { DEV_TENANT_ID } from "@hearth/platform";
import { createTestEnvironment, query, startBroker, waitFor } from "@hearth/testkit";
import test from "ava";
import { createPulseService, type PulseThis } from "../src/pulse.service.ts";
import { openNextWave } from "../src/store.ts";
import { type FakePerson, fakeNotificationsService, fakePeopleService, type Sent } from "./helpers.ts";

const people: FakePerson[] = Array.from({ length: 8 }, (_, i) => ({
  upn: `ops${i}@contoso.test`,
  department: "Operations",
  office: "Madrid",
  hireDate: "2019-09-01",
  managerUpn: i === 0 ? null : "ops0@contoso.test",
  timeZone: "UTC",
}));

async function twoReplicas(t: import("ava").ExecutionContext) {
  const env = await createTestEnvironment({ nats: false, env: { SEED_DEMO: "off" } });
  t.teardown(() => env.cleanup());
  const replicas = await Promise.all(
    [1, 2].map(async () => {
      const sent: Sent[] = [];
      const broker = await startBroker(env.config, [
        createPulseService({ scheduler: false, pollMs: 60_000 }),
        fakePeopleService(people),
        fakeNotificationsService(sent),
      ]);
      t.teardown(() => broker.stop());
      return { broker, sent, pulse: broker.getLocalService("pulse") as unknown as PulseThis };
    }),
  );
  const hr = { meta: { caller: { tenantId: DEV_TENANT_ID, objectId: crypto.randomUUID(), roles: ["HR"] } } };
  const sql = (text: string, params: unknown[] = []) => query(env.database!.url, text, params) as Promise<any[]>;
  return { replicas: replicas as [(typeof replicas)[0], (typeof replicas)[0]], hr, sql };
}

test("two replicas tick at once: one runs the schedule, the programme gets one wave, everyone one invitation", async (t) => {
  const { replicas, hr, sql } = await twoReplicas(t);
  const [a, b] = replicas;
  await a.broker.call("pulse.createProgramme", { name: "Ops weekly", cadence: "weekly" }, hr);
  const ran = await Promise.all([a.pulse.runScheduled(), b.pulse.runScheduled()]);
  t.is(ran.filter(Boolean).length, 1, `exactly one replica ran the schedule (${JSON.stringify(ran)})`);
  const waves = await sql(`select id, number from pulse.waves`);
  t.is(waves.length, 1);
  t.is((await sql(`select count(*)::int as n from pulse.invitations`))[0].n, people.length);

  // The next run is a period away for the whole cluster, not per replica.
  t.deepEqual(await Promise.all([a.pulse.runScheduled(), b.pulse.runScheduled()]), [false, false]);

  // A replica that died holding the lease blocks the others only until it runs out.
  await sql(
    `update pulse.job_leases set claimed_by = 'dead', claimed_until = now() + interval '1 hour', next_run_at = now()`,
  );
  t.false(await b.pulse.runScheduled());
  await sql(`update pulse.job_leases set claimed_until = now() - interval '1 second'`);
  t.true(await b.pulse.runScheduled());
  t.is((await sql(`select count(*)::int as n from pulse.waves`))[0].n, 1, "the open wave is not opened again");
});

test("opening the same programme from two replicas at once (schedule and HR's button): one wave", async (t) => {
  const { replicas, hr, sql } = await twoReplicas(t);
  const [a, b] = replicas;
  const { id } = (await a.broker.call("pulse.createProgramme", { name: "Ops monthly" }, hr)) as { id: string };
  const opened = await Promise.all([
    openNextWave(a.pulse, id, { onlyIfDue: false }),
    openNextWave(b.pulse, id, { onlyIfDue: false }),
  ]);
  t.is(opened.filter((o) => o !== null).length, 1, JSON.stringify(opened));
  t.deepEqual(await sql(`select number, invited from pulse.waves`), [{ number: 1, invited: people.length }]);
  t.is((await sql(`select count(*)::int as n from pulse.invitations`))[0].n, people.length);
});

test("closing records pulse.wave.closed in the outbox once, with participation and no answer", async (t) => {
  const { replicas, hr, sql } = await twoReplicas(t);
  const [a, b] = replicas;
  const { id } = (await a.broker.call("pulse.createProgramme", { name: "Ops close" }, hr)) as { id: string };
  const wave = (await openNextWave(a.pulse, id, { onlyIfDue: false }))!;
  await sql(
    `update pulse.invitations set answered = true where user_id in (select user_id from pulse.invitations limit 6)`,
  );
  // HR closes on one replica while the other's schedule finds the wave finished.
  await sql(`update pulse.invitations set closes_at = now() - interval '1 second'`);
  const [byHand, bySchedule] = await Promise.allSettled([
    a.broker.call("pulse.closeWave", { waveId: wave.id }, hr),
    b.pulse.poll(),
  ]);
  t.is(bySchedule.status, "fulfilled");
  t.true(byHand.status === "fulfilled" || (byHand.reason as { code?: number }).code === 409);
  const events = await sql(`select event, payload from pulse.outbox where event = 'pulse.wave.closed'`);
  t.is(events.length, 1);
  const payload = events[0].payload;
  t.like(payload, {
    waveId: wave.id,
    programmeId: id,
    number: 1,
    invited: people.length,
    responses: 6,
    minGroupSize: 5,
    tenantId: DEV_TENANT_ID,
  });
  t.deepEqual(Object.keys(payload).sort(), [
    "closedOn",
    "closesOn",
    "invited",
    "minGroupSize",
    "number",
    "opensOn",
    "programmeId",
    "responses",
    "tenantId",
    "waveId",
  ]);
  // The relay publishes it (embedded bus here; JetStream with NATS).
  const [published] = await waitFor(
    "pulse.wave.closed published",
    () => sql(`select published_at from pulse.outbox where event = 'pulse.wave.closed'`),
    (rows) => rows[0]?.published_at != null,
  );
  t.truthy(published.published_at);
});
