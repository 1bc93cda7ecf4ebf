// Pulse end to end: the directory from the emulator (people → employee.hired → notifications and pulse) → HR opens
// a wave whose invitation carries the previous wave's "you said, we did" → pulse asks notifications → the real m365
// service (a child node over NATS) posts the Teams card and the activity feed to the emulator → the person presses
// "Answer the pulse" (Action.Execute pulse.showSurvey on the gateway's bot endpoint), gets the questions, answers
// (pulse.answer), and a second press is refused. Every wait is on a state, never on a duration.
import type { GraphEmulator } from "@hearth/graph-emulator";
import { waitFor } from "@hearth/testkit";
import test from "ava";
import type moleculer from "moleculer";
import { createNotificationsService } from "../../services/notifications/src/notifications.service.ts";
import { createPeopleService } from "../../services/people/src/people.service.ts";
import { createPulseService, type PulseThis } from "../../services/pulse/src/pulse.service.ts";
import { startTeamsTenant, type TeamsTenant } from "./fixtures/teams-tenant.ts";

let tenant: TeamsTenant;
let emulator: GraphEmulator;
let broker: moleculer.ServiceBroker;
let endpoint: string;
// Notifications' clock: a Wednesday, 10:00 in Berlin, inside everyone's default working hours.
const BASE = Date.parse("2026-12-02T09:00:00Z");
const startedAt = Date.now();

test.before(async () => {
  tenant = await startTeamsTenant({
    seed: "pulse-e2e",
    services: () => [
      createPeopleService({ scheduler: false }),
      createNotificationsService({ now: () => new Date(BASE + (Date.now() - startedAt)), pollMs: 100 }),
      createPulseService({ scheduler: false }),
    ],
  });
  ({ emulator, broker, endpoint } = tenant);
});

test.after.always(() => tenant?.close());

const sql = (text: string, params: unknown[] = []) => tenant.sql(text, params);
type Card = { body: Array<{ type: string; text?: string; id?: string }>; actions?: any[] };
const cardsOf = (userId: string) =>
  (emulator.bot.conversationWith(userId)?.activities ?? []).map(
    (a) => (a.activity.attachments as Array<{ content: Card }>)[0]!.content,
  );

test("an invitation reaches the person in Teams, with 'you said, we did'; they answer from the card, once", async (t) => {
  const pulse = broker.getLocalService("pulse") as unknown as PulseThis;
  const tenantId = pulse.settings.tenantId;
  const hrId = crypto.randomUUID();
  const as = (objectId: string, roles = ["Employee"]) => ({ meta: { caller: { tenantId, objectId, roles } } });
  const hr = as(hrId, ["HR"]);

  await broker.call("people.runDirectorySync", {});
  const staff = await waitFor(
    "the directory, heard by notifications",
    () => sql(`select user_id from notifications.recipient`),
    (rows) => rows.length >= 40,
  );
  t.true(staff.length >= 40);
  const department = (
    await sql(
      `select department, count(*)::int as n from people.employees where department is not null
       group by 1 order by 2 desc, 1 limit 1`,
    )
  )[0].department as string;
  const { id: programmeId } = (await broker.call(
    "pulse.createProgramme",
    {
      name: "Team pulse",
      cadence: "monthly",
      questionsPerWave: 2,
      audience: { kind: "departments", values: [department] },
    },
    hr,
  )) as { id: string };

  // Wave 1 closes with an action HR attached to its results; wave 2's invitation carries it.
  const first = (await broker.call("pulse.openWave", { programmeId }, hr)) as { id: string; invited: number };
  t.true(first.invited >= 1);
  await broker.call("pulse.closeWave", { waveId: first.id }, hr);
  await broker.call(
    "pulse.addWaveAction",
    { waveId: first.id, title: "Quieter office", description: "Focus rooms on every floor from January" },
    hr,
  );
  // Someone of the department, whatever their directory zone and language: Berlin hours (the notifications clock),
  // in English, set before wave 2 opens (late in the day openWave delivers to everyone at once).
  const [person] = await sql(`select user_id from pulse.invitations where wave_id = $1 order by user_id limit 1`, [
    first.id,
  ]);
  const userId: string = person.user_id;
  await broker.call("notifications.updateMyPreferences", { timeZone: "Europe/Berlin", language: "en" }, as(userId));
  const second = (await broker.call("pulse.openWave", { programmeId }, hr)) as { id: string; invited: number };
  const [reinvited] = await sql(
    `select count(*)::int as n from pulse.invitations where wave_id = $1 and user_id = $2`,
    [second.id, userId],
  );
  t.is(reinvited.n, 1, "the same department, the same person invited again");
  // Their personal opening time has come (the wave opens inside each person's working hours).
  await sql(`update pulse.invitations set opens_at = now() - interval '1 minute' where wave_id = $1`, [second.id]);
  // Delivered by openWave already where the opening time had passed (late in the day, everyone), else now.
  await pulse.deliverDue();
  const [waiting] = await sql(
    `select count(*)::int as n from pulse.invitations where wave_id = $1 and invited_at is null`,
    [second.id],
  );
  t.is(waiting.n, 0, "everyone of the wave invited");

  const invitation = await waitFor(
    "the invitation card in the person's Teams chat",
    async () => cardsOf(userId).find((c) => c.actions?.some((a) => a.data?.waveId === second.id)),
    (card) => card !== undefined,
    30_000,
  );
  const text = JSON.stringify(invitation);
  t.regex(text, /Pulse: Team pulse/);
  t.regex(text, /You said, we did/);
  t.regex(text, /Quieter office/);
  t.regex(text, /groups of 5 or more/);
  t.deepEqual(invitation!.actions, [
    { type: "Action.Execute", title: "Answer the pulse", verb: "pulse.showSurvey", data: { waveId: second.id } },
  ]);
  const feed = await waitFor(
    "the activity feed notification",
    async () => emulator.control.activities(userId),
    (items) => items.length > 0,
  );
  t.regex(JSON.stringify(feed), /Team pulse/);

  // "Answer the pulse": the questions, then the answers.
  const shown = await emulator.bot.invokeCardAction(endpoint, {
    user: userId,
    verb: "pulse.showSurvey",
    data: { waveId: second.id },
  });
  t.is(shown.status, 200);
  const survey = (shown.body as { value: Card }).value;
  const inputs = survey.body.filter((b) => b.id?.startsWith("q:"));
  t.true(inputs.length >= 3, JSON.stringify(survey));
  const questions = await sql(`select id, kind, min from pulse.questions where id = any($1::uuid[])`, [
    inputs.map((i) => i.id!.slice(2)),
  ]);
  const data = Object.fromEntries([
    ["waveId", second.id],
    ...questions.map((q) => [`q:${q.id}`, q.kind === "comment" ? "More focus time, please" : String(q.min + 1)]),
  ]);
  const answered = await emulator.bot.invokeCardAction(endpoint, { user: userId, verb: "pulse.answer", data });
  // The card that answers speaks the Teams client's language (the invoke's locale: the person's in the tenant).
  const locale = emulator.control.tenant.records.find((r) => r.data.id === userId)?.data.preferredLanguage ?? "en";
  t.regex(JSON.stringify(answered.body), locale.startsWith("de") ? /anonym gespeichert/ : /recorded anonymously/);
  const [flag] = await sql(`select answered from pulse.invitations where wave_id = $1 and user_id = $2`, [
    second.id,
    userId,
  ]);
  t.true(flag.answered);
  const stored = await sql(
    `select * from pulse.answer_buffer where wave_id = $1 union all
     select id, null, wave_id, question_id, day, department, office, tenure_band, manager_path, value, comment
     from pulse.answers where wave_id = $1`,
    [second.id],
  );
  t.is(stored.length, questions.length);
  t.false(JSON.stringify(stored).includes(userId), "the person's id is on none of their answers");

  const again = await emulator.bot.invokeCardAction(endpoint, { user: userId, verb: "pulse.answer", data });
  t.regex(JSON.stringify(again.body), /already answered/);
});
