// Pulse answers through the gateway (Entra token, rate limit, zod, role check) over NATS to the pulse service in
// another process, into PostgreSQL: answers per second. Then the database write path alone (pulse's submit: check
// the answers, group-commit concurrent submissions: claim each invitation, set the answered flag, write the answers,
// buffered and moved when fewer than the minimum group size commit together) against a raw multi-row INSERT of the
// same rows, in the same run. Goals: ≥ 5,000 answers/s; ratio ≥ 0.7.
import { randomUUID } from "node:crypto";
import path from "node:path";
import { demoUserObjectId, loadConfig, loadOrCreateDevIssuer } from "@hearth/platform";
import { createPulseService, type PulseThis, submit } from "@hearth/pulse/src/pulse.service.ts";
import { createTestEnvironment, freePort, query, spawnNode, startBroker } from "@hearth/testkit";
import autocannon from "autocannon";

const TENANT = "00000000-0000-4000-8000-000000000000";

export async function run(args: string[]) {
  const submissions = Number(args[0] ?? 12_000);
  const env = await createTestEnvironment({ env: { LOG_LEVEL: "warn" } });
  const port = await freePort();
  const nodeEnv = { ...env.env, LOG_LEVEL: "warn", RATE_LIMIT_PER_MINUTE: "100000000", PULSE_POLL_MS: "3600000" };
  const nodes = [
    spawnNode({
      env: nodeEnv,
      serviceModules: [path.resolve(import.meta.dirname, "../../services/pulse/src/pulse.service.ts")],
      nodeID: "bench-pulse",
    }),
    spawnNode({
      env: { ...nodeEnv, PORT: String(port) },
      serviceModules: [path.join(import.meta.dirname, "fixtures", "hearth-gateway.ts")],
      nodeID: "bench-gateway",
    }),
  ];
  const db = (text: string, params: unknown[] = []) => query(env.database!.url, text, params);
  const base = `http://127.0.0.1:${port}/api/v1`;
  try {
    await Promise.all(nodes.map((n) => n.ready));
    if (env.config.auth.kind !== "development") throw new Error("the benchmark uses the development issuer");
    const issuer = await loadOrCreateDevIssuer({ dir: env.config.auth.keyDir });
    const hr = await issuer.signAccessToken({ upn: "hr@bench.example", roles: ["HR"] });
    let programmeId = "";
    const deadline = Date.now() + 20_000;
    while (!programmeId) {
      const res = await fetch(`${base}/pulse/programmes`, {
        method: "POST",
        headers: { authorization: `Bearer ${hr}`, "content-type": "application/json" },
        body: JSON.stringify({ name: "Bench", questionsPerWave: 4 }),
      }).catch(() => undefined);
      if (res?.status === 201) programmeId = ((await res.json()) as { id: string }).id;
      else if (Date.now() > deadline) throw new Error(`create programme: ${res?.status} ${await res?.text()}`);
      else await new Promise((r) => setTimeout(r, 200));
    }
    const bank = await db(
      `select id, kind, min, max from pulse.questions where programme_id is null order by position`,
    );
    const questions = [bank.find((q) => q.kind === "enps"), ...bank.filter((q) => q.kind === "scale").slice(0, 4)];
    const answersFor = (i: number) =>
      questions.map((q, j) => ({ questionId: q.id, value: q.min + ((i + j) % (q.max - q.min + 1)) }));

    const openWave = async (number: number, users: string[]) => {
      const id = randomUUID();
      await db(
        `insert into pulse.waves (id, tenant_id, programme_id, number, status, opens_on, closes_on, question_ids, invited)
         values ($1, $2, $3, $4, 'open', current_date, current_date + 7, $5, $6)`,
        [id, TENANT, programmeId, number, JSON.stringify(questions.map((q) => q.id)), users.length],
      );
      await db(
        `insert into pulse.invitations (id, wave_id, user_id, department, office, tenure_band, manager_path, time_zone,
           opens_at, closes_at, invited_at)
         select gen_random_uuid(), $1, u::uuid, 'Dept ' || (n % 20), 'Office ' || (n % 7), '1-3y', '[]', 'UTC',
           now(), now() + interval '7 days', now()
         from unnest($2::text[]) with ordinality as t(u, n)`,
        [id, users],
      );
      return id;
    };

    // 1. Through the gateway over NATS.
    const upns = Array.from({ length: submissions }, (_, i) => `bench${i}@bench.example`);
    const waveId = await openWave(
      1,
      upns.map((u) => demoUserObjectId(u)),
    );
    console.log(`signing ${submissions} tokens…`);
    const tokens = await Promise.all(upns.map((upn) => issuer.signAccessToken({ upn, roles: ["Employee"] })));
    const bodies = tokens.map((_, i) => JSON.stringify({ answers: answersFor(i) }));
    let next = 0;
    console.log(`posting ${submissions} submissions of ${questions.length} answers, 50 connections…`);
    const t0 = performance.now();
    const result = await autocannon({
      url: `${base}/pulse/waves/${waveId}/answers`,
      connections: 50,
      amount: submissions,
      requests: [
        {
          method: "POST",
          setupRequest(req) {
            const i = next++;
            return {
              ...req,
              headers: { authorization: `Bearer ${tokens[i]}`, "content-type": "application/json" },
              body: bodies[i],
            };
          },
        },
      ],
    });
    const seconds = (performance.now() - t0) / 1000;
    if (result.non2xx > 0 || result.errors > 0) {
      throw new Error(`${result.non2xx} non-2xx and ${result.errors} errors in ${result.requests.total} requests`);
    }
    const [{ stored }] = await db(
      `select (select count(*) from pulse.answers where wave_id = $1) + (select count(*) from pulse.answer_buffer
       where wave_id = $1) as stored`,
      [waveId],
    );
    const answersPerSecond = Number(stored) / seconds;
    console.log(
      `gateway → NATS → pulse → PostgreSQL: ${(submissions / seconds).toFixed(0)} submissions/s, ` +
        `${answersPerSecond.toFixed(0)} answers/s (p99 ${result.latency.p99} ms)`,
    );

    // 2. The database write path alone, in this process, against a raw multi-row INSERT of the same rows.
    const local = loadConfig({ ...env.env, NATS_URL: "", NAMESPACE: `${env.id}-local`, SEED_DEMO: "off" });
    const broker = await startBroker(local, [createPulseService({ scheduler: false })]);
    try {
      const service = broker.getLocalService("pulse") as unknown as PulseThis;
      const n = Math.min(submissions, 6000);
      const users = Array.from({ length: n }, () => randomUUID());
      const wave2 = await openWave(2, users);
      let k = 0;
      const w0 = performance.now();
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (k < n) {
            const i = k++;
            await submit(service, users[i]!, wave2, answersFor(i));
          }
        }),
      );
      const writeSeconds = (performance.now() - w0) / 1000;
      const writeRows = n * questions.length;
      const r0 = performance.now();
      const rows = Array.from({ length: writeRows }, (_, i) => i);
      for (let i = 0; i < rows.length; i += 1000) {
        const chunk = rows.slice(i, i + 1000);
        const params: unknown[] = [];
        const values = chunk.map((r, j) => {
          const q = questions[r % questions.length]!;
          params.push(randomUUID(), wave2, q.id, "Dept 1", "Office 1", "1-3y", "[]", q.min);
          const b = j * 8;
          return `($${b + 1}, $${b + 2}, $${b + 3}, current_date::text, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, $${b + 8})`;
        });
        await db(
          `insert into pulse.answers (id, wave_id, question_id, day, department, office, tenure_band, manager_path, value)
           values ${values.join(", ")}`,
          params,
        );
      }
      const rawSeconds = (performance.now() - r0) / 1000;
      const writeRate = writeRows / writeSeconds;
      const rawRate = writeRows / rawSeconds;
      console.log(
        `pulse write path: ${writeRate.toFixed(0)} answers/s; raw multi-row INSERT: ${rawRate.toFixed(0)} rows/s`,
      );
      return {
        bench: "pulse-ingest",
        answersPerSecond: Math.round(answersPerSecond),
        rawInsertRowsPerSecond: Math.round(rawRate),
        ratio: Number((writeRate / rawRate).toFixed(3)),
      };
    } finally {
      await broker.stop();
    }
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await env.cleanup();
  }
}
