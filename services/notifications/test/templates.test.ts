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
