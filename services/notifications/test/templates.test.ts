// Every template renders in every language, and each card is an Adaptive Card 1.5 that Microsoft's own library
// parses without a warning.
import { createRequire } from "node:module";
import test from "ava";
import { LANGUAGES, languageOf, TemplateStore } from "../src/domain/templates.ts";

// The package's ESM entry imports files without extensions, which Node's ESM loader refuses: load its UMD build.
const AC = createRequire(import.meta.url)("adaptivecards/dist/adaptivecards.js") as typeof import("adaptivecards");
const store = new TemplateStore();
const sample: Record<string, unknown> = {
  title: "Town hall on Friday",
  body: "Ask your questions <live> & in person.",
  when: "2026-12-04T15:00:00Z",
  url: "https://teams.microsoft.com/l/entity/hearth/home",
  taskTitle: 'Set up your "laptop"',
  dueAt: "2026-12-01T08:30:00Z",
  description: "IT has it ready for you.",
  surveyTitle: "Q4 pulse",
  question: "How supported do you feel?",
  closesAt: "2026-12-10T17:00:00Z",
  count: 2,
  items: [{ subject: "Welcome to Hearth" }, { subject: "Set up your laptop" }],
  generatedAt: "2026-12-01T08:00:00Z",
  programme: "Engagement <Q4>",
  closesOn: "2026-12-10",
  minGroupSize: 5,
  questionCount: 4,
  youSaidWeDid: [
    { title: "Quieter office", description: "Focus rooms on every floor & no meetings on Fridays", number: 1 },
    { title: "Clearer goals", description: "Quarterly goals shared in the town hall", number: 1 },
  ],
};

function parseWarnings(card: Record<string, unknown>) {
  const context = new AC.SerializationContext();
  const parsed = new AC.AdaptiveCard();
  parsed.parse(card, context);
  return {
    parsed,
    warnings:
      context.eventCount > 0 ? Array.from({ length: context.eventCount }, (_, i) => context.getEventAt(i).message) : [],
  };
}

for (const id of store.ids()) {
  for (const language of LANGUAGES) {
    test(`${id} renders in ${language}: valid card 1.5, feed, mail`, (t) => {
      const rendered = store.render(id, { language, timeZone: "Europe/Berlin", displayName: "Yuki Tanaka" }, sample, [
        { verb: "onboarding.completeTask", title: "Done", data: { taskId: "t1" } },
      ]);
      t.is(rendered.card.version, "1.5");
      const { warnings } = parseWarnings(rendered.card);
      t.deepEqual(warnings, []);
      t.true(
        (rendered.card.actions as Array<{ type: string; verb?: string }>).some(
          (a) => a.type === "Action.Execute" && a.verb === "onboarding.completeTask",
        ),
      );
      t.true(rendered.feed.length > 0 && rendered.feed.length <= 150);
      t.true(rendered.subject.length > 0);
      t.regex(rendered.html, new RegExp(`<html lang="${language}">`));
      t.notRegex(rendered.html, /<live>/, "data is HTML-escaped in mail");
      t.true(rendered.text.includes("Yuki Tanaka"));
      t.notRegex(rendered.text + rendered.feed, /\{\{|\[object Object\]/);
    });
  }
}

test("dates are written in the person's time zone and language", (t) => {
  const data = { ...sample, dueAt: "2026-12-01T23:30:00Z" };
  const en = store.render("onboarding.task-due", { language: "en", timeZone: "America/New_York" }, data);
  const de = store.render("onboarding.task-due", { language: "de", timeZone: "Europe/Berlin" }, data);
  // 23:30 UTC is still 1 December in New York, already 2 December in Berlin.
  t.regex(en.feed, /December 1, 2026/);
  t.regex(de.feed, /2\. Dezember 2026/);
  t.regex(de.text, /00:30/);
  t.regex(en.text, /6:30\s?PM/);
});

test("language: preferred language with fallback to English", (t) => {
  t.is(languageOf("de-AT"), "de");
  t.is(languageOf("fr-FR"), "en");
  t.is(languageOf(null), "en");
});

test("pulse invitation: Action.Execute pulse.showSurvey, the anonymity promise and the wave's 'you said, we did'", (t) => {
  const action = {
    verb: "pulse.showSurvey",
    title: "Answer the pulse",
    titles: { de: "Zum Pulse" },
    data: { waveId: "w1" },
  };
  for (const [language, heading, closes, button] of [
    ["en", "You said, we did", "Thursday, December 10, 2026", "Answer the pulse"],
    ["de", "Ihr habt gesagt, wir haben gehandelt", "Donnerstag, 10. Dezember 2026", "Zum Pulse"],
  ] as const) {
    // Pacific/Kiritimati is UTC+14: the closing day must still read 10 December (a day, not an instant).
    const r = store.render(
      "pulse.invitation",
      { language, timeZone: "Pacific/Kiritimati", displayName: "Ana" },
      sample,
      [action],
    );
    t.deepEqual(parseWarnings(r.card).warnings, []);
    t.deepEqual(r.card.actions, [
      { type: "Action.Execute", title: button, verb: "pulse.showSurvey", data: { waveId: "w1" } },
    ]);
    const card = JSON.stringify(r.card);
    t.true(card.includes(heading), language);
    t.true(card.includes("Focus rooms on every floor & no meetings on Fridays"));
    t.true(card.includes("5"));
    t.true(r.feed.includes(closes), `${language}: ${r.feed}`);
    t.true(r.text.includes("Quieter office") && r.text.includes(closes));
    t.true(r.html.includes("Focus rooms on every floor &amp; no meetings on Fridays"), "escaped in mail");
    t.true(r.html.includes("Engagement &lt;Q4&gt;"));
  }
  // Without actions from earlier waves, no empty heading.
  const none = store.render("pulse.invitation", { language: "en", timeZone: "UTC" }, { ...sample, youSaidWeDid: [] });
  t.deepEqual(parseWarnings(none.card).warnings, []);
  t.false(JSON.stringify(none.card).includes("You said"));
  t.false(none.text.includes("You said"));
});

test("pulse reminder: the closing day in the person's language", (t) => {
  const en = store.render("pulse.reminder", { language: "en", timeZone: "America/Los_Angeles" }, sample);
  const de = store.render("pulse.reminder", { language: "de", timeZone: "Europe/Berlin" }, sample);
  t.is(en.subject, "Reminder: Engagement <Q4> closes on Thursday, December 10, 2026");
  t.is(de.subject, "Erinnerung: Engagement <Q4> endet am Donnerstag, 10. Dezember 2026");
});
