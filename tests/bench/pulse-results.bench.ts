// Pulse results at scale: 100,000 employees over 20 closed waves (about 6.8 million answers). Measures the results
// and heatmap actions (disclosure control, audit row per view) warm, against the same figures computed naively
// from the raw answers by SQL on every request (no disclosure control, no cache). Goal: p95 under 100 ms warm.
import { randomUUID } from "node:crypto";
import { createPulseService } from "@hearth/pulse/src/pulse.service.ts";
import { createTestEnvironment, query, startBroker } from "@hearth/testkit";

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};

export async function run(args: string[]) {
  const employees = Number(args[0] ?? 100_000);
  const waves = Number(args[1] ?? 20);
  const samples = Number(args[2] ?? 200);
  const env = await createTestEnvironment({ nats: false, env: { SEED_DEMO: "off", LOG_LEVEL: "warn" } });
  const broker = await startBroker(env.config, [createPulseService({ scheduler: false })]);
  const db = (text: string, params: unknown[] = []) => query(env.database!.url, text, params);
  try {
    const programmeId = randomUUID();
    const tenantId = "00000000-0000-4000-8000-000000000000";
    const hr = { caller: { tenantId, objectId: randomUUID(), roles: ["HR"] } };
    const created = (await broker.call(
      "pulse.createProgramme",
      { name: "Bench", cadence: "biweekly", questionsPerWave: 4 },
      { meta: hr },
    )) as { id: string };
    void programmeId;
    const bank = await db(
      `select id, kind, min, max, position from pulse.questions where programme_id is null order by position`,
    );
    console.log(`generating ${employees} employees × ${waves} waves…`);
    const started = Date.now();
    const waveIds: string[] = [];
    for (let w = 1; w <= waves; w++) {
      const scale = bank.filter((q) => q.kind === "scale");
      const chosen = [
        bank.find((q) => q.kind === "enps"),
        ...Array.from({ length: 4 }, (_, i) => scale[((w - 1) * 4 + i) % scale.length]),
        bank.find((q) => q.kind === "comment"),
      ];
      const id = randomUUID();
      waveIds.push(id);
      const day = new Date(Date.UTC(2026, 0, 1 + 14 * w)).toISOString().slice(0, 10);
      await db(
        `insert into pulse.waves (id, tenant_id, programme_id, number, status, opens_on, closes_on, question_ids, invited)
         values ($1, $2, $3, $4, 'closed', $5, $5, $6, $7)`,
        [id, tenantId, created.id, w, day, JSON.stringify(chosen.map((q) => q.id)), employees],
      );
      // Attributes: 20 departments of 5,000, teams of 8 under a department head, 10 offices, 5 tenure bands.
      const attrs = `'Dept ' || ((e / 8) % 20) as department, 'Office ' || ((e / 7) % 10) as office,
        (array['<6m','6-12m','1-3y','3y+','unknown'])[((e / 3) % 5) + 1] as tenure_band,
        jsonb_build_array(md5('root')::uuid, md5('d' || ((e / 8) % 20))::uuid, md5('t' || (e / 8))::uuid) as manager_path`;
      await db(
        `insert into pulse.invitations (id, wave_id, user_id, department, office, tenure_band, manager_path, time_zone,
           answered, opens_at, closes_at, invited_at)
         select gen_random_uuid(), $1, md5('u' || e)::uuid, department, office, tenure_band, manager_path, 'UTC',
           (e * 31 + $2 * 17) % 100 < 65, now(), now(), now()
         from (select e, ${attrs} from generate_series(0, $3 - 1) e) s`,
        [id, w, employees],
      );
      await db(
        `insert into pulse.answers (id, wave_id, question_id, day, department, office, tenure_band, manager_path, value, comment)
         select gen_random_uuid(), $1, q.id, $2, s.department, s.office, s.tenure_band, s.manager_path,
           case when q.kind = 'comment' then null
                else q.min + ((s.e * 7 + $3 * 13 + q.position * 5 + s.e / 8) % (q.max - q.min + 1)) end,
           case when q.kind = 'comment' then 'a comment' end
         from (select e, ${attrs} from generate_series(0, $4 - 1) e where (e * 31 + $3 * 17) % 100 < 65) s
         join pulse.questions q on q.id = any($5::uuid[]) and (q.kind <> 'comment' or s.e % 5 = 0)`,
        [id, day, w, employees, `{${chosen.map((q) => q.id).join(",")}}`],
      );
    }
    await db("analyze pulse.answers");
    await db("analyze pulse.invitations");
    const [{ n }] = await db(`select count(*)::int as n from pulse.answers`);
    console.log(`${n} answers in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    const departments = Array.from({ length: 20 }, (_, i) => `Dept ${i}`);
    const requests = (i: number) => {
      const waveId = waveIds[i % waveIds.length]!;
      return i % 2 === 0
        ? () => broker.call("pulse.getResults", { waveId, department: departments[i % 20] }, { meta: hr })
        : () => broker.call("pulse.getHeatmap", { waveId, dimension: "department" }, { meta: hr });
    };
    // Warm: every wave's partitions built once (cold cost printed), then measured.
    const cold = Date.now();
    for (let i = 0; i < waveIds.length * 2; i++) {
      const waveId = waveIds[i % waveIds.length]!;
      await broker.call("pulse.getResults", { waveId }, { meta: hr, timeout: 300_000, retries: 0 });
    }
    console.log(`cold: ${waveIds.length} waves' partitions and first views in ${Date.now() - cold} ms`);
    for (let i = 0; i < samples; i++) await requests(i)();
    const hearth: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      await requests(i)();
      hearth.push(performance.now() - t0);
    }
    // Naive: the same figures from the raw answers on every request (per question count, sum, histogram).
    const naiveRequest = (i: number) => {
      const waveId = waveIds[i % waveIds.length]!;
      return i % 2 === 0
        ? () =>
            db(
              `select question_id, value, count(*) from pulse.answers where wave_id = $1 and department = $2
               and value is not null group by 1, 2`,
              [waveId, departments[i % 20]],
            )
        : () =>
            db(
              `select department, question_id, avg(value), count(*) from pulse.answers where wave_id = $1
               and value is not null group by 1, 2`,
              [waveId],
            );
    };
    const naive: number[] = [];
    for (let i = 0; i < Math.min(samples, 60); i++) {
      const t0 = performance.now();
      await naiveRequest(i)();
      naive.push(performance.now() - t0);
    }
    const p95 = percentile(hearth, 95);
    const naiveP95 = percentile(naive, 95);
    console.log(`pulse results+heatmap warm: p50 ${percentile(hearth, 50).toFixed(1)} ms, p95 ${p95.toFixed(1)} ms`);
    console.log(
      `naive from raw answers:     p50 ${percentile(naive, 50).toFixed(1)} ms, p95 ${naiveP95.toFixed(1)} ms`,
    );
    return {
      bench: "pulse-results",
      employees,
      waves,
      p95Ms: Number(p95.toFixed(1)),
      naiveP95Ms: Number(naiveP95.toFixed(1)),
    };
  } finally {
    await broker.stop();
    await env.cleanup();
  }
}
