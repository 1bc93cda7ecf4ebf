// The pulse service against a real PostgreSQL schema, through the gateway: storage by construction, one answer
// per invitee, 4xx that name the problem, reminders only to non-responders, results under disclosure control.
import { ZCardAction } from "@hearth/contracts";
import test from "ava";
import { z } from "zod";
import { type FakePerson, oid, startPulse } from "./helpers.ts";

const HR = "hr@contoso.test";
const people: FakePerson[] = [
  { upn: "ceo@contoso.test", department: "Leadership", office: "Berlin", hireDate: "2015-01-01", managerUpn: null },
  ...Array.from({ length: 11 }, (_, i) => ({
    upn: `eng${i}@contoso.test`,
    department: "Engineering",
    office: i < 8 ? "Berlin" : "Lyon",
    hireDate: i < 10 ? "2020-03-01" : new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 10),
    managerUpn: "ceo@contoso.test",
    timeZone: i % 2 ? "America/New_York" : "Europe/Berlin",
  })),
];

async function openedWave(t: import("ava").ExecutionContext, overCap = new Set<string>()) {
  const h = await startPulse(t, people, overCap);
  const hr = await h.token(HR, ["HR"]);
  const created = await h.http("POST", "/api/v1/pulse/programmes", {
    token: hr,
    body: { name: "Engagement", cadence: "monthly", questionsPerWave: 2 },
  });
  t.is(created.status, 201, created.text);
  const opened = await h.http("POST", `/api/v1/pulse/programmes/${created.json.id}/waves`, { token: hr });
  t.is(opened.status, 201, opened.text);
  const waveId: string = opened.json.id;
  // Everyone's personal opening time has come (the wave opens inside each person's working hours).
  await h.sql(`update pulse.invitations set opens_at = now() - interval '1 minute' where wave_id = $1`, [waveId]);
  await h.pulse.deliverDue();
  const receipt = await h.http("GET", `/api/v1/pulse/waves/${waveId}/receipt`, {
    token: await h.token("eng0@contoso.test"),
  });
  t.is(receipt.status, 200, receipt.text);
  return {
    h,
    hr,
    programmeId: created.json.id as string,
    waveId,
    opened: opened.json,
    questions: receipt.json.questions as any[],
    receipt: receipt.json,
  };
}

function answersFor(questions: any[], i: number) {
  return questions.map((q) =>
    q.kind === "comment"
      ? { questionId: q.id, comment: `comment ${i}` }
      : { questionId: q.id, value: q.min + ((i * 3) % (q.max - q.min + 1)) },
  );
}

test("the answers table has no column that can lead back to a person, nor a time finer than the day", async (t) => {
  const { h } = await openedWave(t);
  const columns = await h.sql<{ column_name: string; data_type: string }>(
    `select column_name, data_type from information_schema.columns where table_schema = 'pulse' and table_name = 'answers'
     order by ordinal_position`,
  );
  t.deepEqual(
    columns.map((c) => c.column_name),
    ["id", "wave_id", "question_id", "day", "department", "office", "tenure_band", "manager_path", "value", "comment"],
  );
  t.false(
    columns.some((c) => /timestamp|time /.test(c.data_type)),
    "no timestamp column",
  );
  t.false(columns.some((c) => /user|employee|invitation|person|submission|created|seq/.test(c.column_name)));
  const defaults = await h.sql(
    `select column_name from information_schema.columns where table_schema = 'pulse' and table_name = 'answers'
     and column_default like 'nextval%'`,
  );
  t.deepEqual(defaults, [], "no sequence that orders answers by arrival");
});

test("an invitee answers once: stored without their id, a replay is 409, answers wait until enough arrive", async (t) => {
  const { h, waveId, questions, receipt } = await openedWave(t);
  t.is(receipt.receipt.minGroupSize, 5);
  t.true(receipt.invited);
  t.is(questions[0].kind, "enps");
  t.regex(questions[0].definition, /9–10.*0–6/);
  const token = await h.token("eng0@contoso.test");
  const first = await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
    token,
    body: { answers: answersFor(questions, 0) },
  });
  t.is(first.status, 201, first.text);
  t.is((await h.sql(`select count(*)::int as n from pulse.answers`))[0].n, 0, "one submission is not moved yet");
  const replay = await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
    token,
    body: { answers: answersFor(questions, 0) },
  });
  t.is(replay.status, 409);
  t.regex(replay.text, /already answered/);
  for (let i = 1; i < 5; i++) {
    const r = await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
      token: await h.token(`eng${i}@contoso.test`),
      body: { answers: answersFor(questions, i) },
    });
    t.is(r.status, 201, r.text);
  }
  const stored = await h.sql(`select * from pulse.answers`);
  t.is(stored.length, 5 * questions.length, "five submissions move together");
  t.is((await h.sql(`select count(*)::int as n from pulse.answer_buffer`))[0].n, 0);
  // The respondents' own ids appear nowhere (manager_path names their managers: the locked reporting line).
  const respondents = [0, 1, 2, 3, 4].map((i) => oid(`eng${i}@contoso.test`));
  t.false(
    respondents.some((id) => JSON.stringify(stored).includes(id)),
    "no respondent id anywhere",
  );
  t.true(stored.every((r: any) => /^\d{4}-\d{2}-\d{2}$/.test(r.day)));
});

test("out of range, unknown question, not invited, closed wave: 4xx naming the problem and nothing stored", async (t) => {
  const { h, hr, waveId, questions } = await openedWave(t);
  const token = await h.token("eng1@contoso.test");
  const enps = questions.find((q) => q.kind === "enps");
  const outOfRange = await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
    token,
    body: { answers: [{ questionId: enps.id, value: 11 }] },
  });
  t.is(outOfRange.status, 422);
  t.regex(outOfRange.text, /answers\[0\]\.value/);
  t.regex(outOfRange.text, /0 to 10/);
  const unknown = await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
    token,
    body: { answers: [{ questionId: crypto.randomUUID(), value: 3 }] },
  });
  t.is(unknown.status, 422);
  t.regex(unknown.text, /not part of the wave/);
  const stranger = await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
    token: await h.token("stranger@contoso.test"),
    body: { answers: [{ questionId: enps.id, value: 3 }] },
  });
  t.is(stranger.status, 403);
  t.is((await h.sql(`select count(*)::int as n from pulse.answer_buffer`))[0].n, 0);
  t.is((await h.sql(`select count(*)::int as n from pulse.invitations where answered`))[0].n, 0, "flag untouched");
  t.is((await h.http("POST", `/api/v1/pulse/waves/${waveId}/close`, { token: hr })).status, 200);
  const late = await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
    token,
    body: { answers: [{ questionId: enps.id, value: 3 }] },
  });
  t.is(late.status, 409);
  t.regex(late.text, /closed/);
});

test("invitations respect the governor; reminders reach only those who have not answered", async (t) => {
  const { h, hr, waveId, questions, opened } = await openedWave(t, new Set([oid("eng10@contoso.test")]));
  t.is(opened.invited, 11);
  t.is(opened.suppressedByGovernor, 1);
  const invitation = h.sent.find((s) => s.templateId === "pulse.invitation")!;
  t.is(invitation.kind, "feedbackRequest");
  t.is(invitation.userIds.length, 11);
  t.false(invitation.userIds.includes(oid("eng10@contoso.test")));
  for (const i of [0, 1, 2]) {
    await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
      token: await h.token(`eng${i}@contoso.test`),
      body: { answers: answersFor(questions, i) },
    });
  }
  const remind = await h.http("POST", `/api/v1/pulse/waves/${waveId}/remind`, { token: hr });
  t.is(remind.status, 200, remind.text);
  t.is(remind.json.reminded, 8);
  const reminder = h.sent.find((s) => s.templateId === "pulse.reminder")!;
  t.deepEqual(
    [...reminder.userIds].sort(),
    [oid("ceo@contoso.test"), ...[3, 4, 5, 6, 7, 8, 9].map((i) => oid(`eng${i}@contoso.test`))].sort(),
  );
});

test("results: nothing while open, then only groups of five, every view audited; the Teams card answers", async (t) => {
  const { h, hr, waveId, questions } = await openedWave(t);
  // Seven answer through the web, one through the Teams card.
  for (let i = 0; i < 7; i++) {
    await h.http("POST", `/api/v1/pulse/waves/${waveId}/answers`, {
      token: await h.token(`eng${i}@contoso.test`),
      body: { answers: answersFor(questions, i) },
    });
  }
  const card = (await h.broker.call("pulse.handleCardAction", {
    verb: "pulse.answer",
    data: Object.fromEntries([
      ["waveId", waveId],
      ...answersFor(questions, 7).map((a) => [`q:${a.questionId}`, String(a.value ?? a.comment)]),
    ]),
    user: { aadObjectId: oid("eng7@contoso.test"), tenantId: "00000000-0000-4000-8000-000000000000" },
  })) as { card: any };
  t.regex(JSON.stringify(card.card), /recorded anonymously/);
  const open = await h.http("GET", `/api/v1/pulse/waves/${waveId}/results`, { token: hr });
  t.is(open.status, 200);
  t.deepEqual(open.json.questions, [], "nothing while the wave is open");
  await h.http("POST", `/api/v1/pulse/waves/${waveId}/close`, { token: hr });
  const all = await h.http("GET", `/api/v1/pulse/waves/${waveId}/results`, { token: hr });
  t.is(all.json.questions.find((q: any) => q.kind === "enps").responses, 8);
  t.is(typeof all.json.questions.find((q: any) => q.kind === "enps").enps.score, "number");
  t.is(all.json.responseRate, 66.7);
  // Lyon has 3 people: suppressed, and exactly like a department that does not exist.
  const lyon = await h.http("GET", `/api/v1/pulse/waves/${waveId}/results?office=Lyon`, { token: hr });
  const none = await h.http("GET", `/api/v1/pulse/waves/${waveId}/results?office=Atlantis`, { token: hr });
  t.deepEqual(lyon.json.questions, none.json.questions);
  t.is(lyon.json.responseRate, none.json.responseRate);
  // Berlin (all 8 respondents answered from Berlin minus the Lyon ones) must not be subtractable from the total.
  const berlin = await h.http("GET", `/api/v1/pulse/waves/${waveId}/results?office=Berlin`, { token: hr });
  const shownBoth = berlin.json.questions.length > 0 && all.json.questions.length > 0;
  if (shownBoth) {
    const diff = all.json.questions[0].responses - berlin.json.questions[0].responses;
    t.true(diff === 0 || diff >= 5, "the difference of two results is never a group under five");
  }
  const csv = await h.http("GET", `/api/v1/pulse/waves/${waveId}/export`, { token: hr });
  t.regex(csv.json.csv, /^scope,question,kind,responses,mean,enps/);
  t.notRegex(csv.json.csv, /office=Lyon/);
  const comments = await h.http("GET", `/api/v1/pulse/waves/${waveId}/comments`, { token: hr });
  t.deepEqual(comments.json.comments, [], "8 comments are below the comment minimum of 10");
  const employee = await h.http("GET", `/api/v1/pulse/waves/${waveId}/results`, {
    token: await h.token("eng0@contoso.test"),
  });
  t.is(employee.status, 403);
  const audited = await h.sql(`select view from pulse.results_views order by viewed_at`);
  t.deepEqual(
    audited.map((r) => r.view),
    ["results", "results", "results", "results", "results", "export", "comments"],
  );
});

test("a new-hire programme invites those whose day 30 or 90 has come, from employee.hired", async (t) => {
  const h = await startPulse(t, people);
  const hr = await h.token(HR, ["HR"]);
  const handler = (h.pulse.schema as any).domainEvents["employee.hired"];
  const hired = new Date(Date.now() - 40 * 86_400_000).toISOString().slice(0, 10);
  await h.pulse.transaction((em) =>
    handler.call(h.pulse, { payload: { objectId: oid("eng10@contoso.test"), hireDate: hired } }, em),
  );
  const created = await h.http("POST", "/api/v1/pulse/programmes", {
    token: hr,
    body: { name: "New hires", audience: { kind: "newHires", values: [] } },
  });
  const opened = await h.http("POST", `/api/v1/pulse/programmes/${created.json.id}/waves`, { token: hr });
  t.is(opened.status, 201, opened.text);
  t.is(opened.json.invited, 1);
  const [invitation] = await h.sql(`select user_id, tenure_band from pulse.invitations`);
  t.is(invitation.user_id, oid("eng10@contoso.test"));
  t.is(invitation.tenure_band, "<6m");
});

test("the Teams survey card speaks the language of the person's Teams client; the invitation's button too", async (t) => {
  const { h, waveId, questions } = await openedWave(t);
  const user = { aadObjectId: oid("eng3@contoso.test"), tenantId: "00000000-0000-4000-8000-000000000000" };
  const show = (locale?: string) =>
    h.broker.call("pulse.handleCardAction", {
      verb: "pulse.showSurvey",
      data: { waveId },
      user,
      ...(locale ? { locale } : {}),
    }) as Promise<{ card: { body: Array<{ text?: string; id?: string }>; actions: Array<{ title: string }> } }>;
  const de = (await show("de-DE")).card;
  t.is(de.actions[0]!.title, "Anonym senden");
  t.regex(JSON.stringify(de.body), /Anonym: Ihre Antworten werden ohne Ihren Namen gespeichert/);
  t.is(de.body.filter((b) => b.id?.startsWith("q:")).length, questions.length);
  for (const locale of [undefined, "en-GB", "fr-FR"]) {
    t.is((await show(locale)).card.actions[0]!.title, "Send anonymously", String(locale));
  }
  const nothing = (await h.broker.call("pulse.handleCardAction", {
    verb: "pulse.answer",
    data: { waveId },
    user,
    locale: "de-AT",
  })) as { card: unknown };
  t.regex(JSON.stringify(nothing.card), /Beantworten Sie mindestens eine Frage/);
  // The invitation's button in German too, valid by the notifications contract.
  const invitation = h.sent.find((s) => s.templateId === "pulse.invitation")!;
  const actions = z.array(ZCardAction).parse(invitation.actions);
  t.deepEqual(actions, [
    { verb: "pulse.showSurvey", title: "Answer the pulse", titles: { de: "Zum Pulse" }, data: { waveId } },
  ]);
});
