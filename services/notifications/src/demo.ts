// Demo data for `npm start`: preferences of a few demo people and a history of notifications with their outcomes.
import { randomUUID } from "node:crypto";
import { demoUserObjectId } from "@hearth/platform";
import type { EntityManager } from "@mikro-orm/core";
import { mergePreferences, sql } from "./dispatcher.ts";

const T = (table: string) => `"notifications"."${table}"`;
const person = (local: string) => demoUserObjectId(`${local}@contoso.example`);

export async function seedDemo(em: EntityManager): Promise<number> {
  const [{ n }] = await sql<{ n: string }>(em, `select count(*) as n from ${T("request")} where source = 'demo'`);
  if (Number(n) > 0) return 0;
  const now = Date.now();
  const prefs = [
    {
      user: person("new.hire"),
      prefs: mergePreferences({
        language: "de",
        timeZone: "Europe/Berlin",
        quietHours: { start: "19:00", end: "08:00" },
      }),
    },
    {
      user: person("hr"),
      prefs: mergePreferences({
        delivery: { low: "digest", normal: "digest", high: "immediate" },
        digestTime: "08:30",
      }),
    },
    {
      user: person("ruby.scott"),
      prefs: mergePreferences({ channels: { teamsCard: true, activityFeed: true, mail: true } }),
    },
  ];
  for (const p of prefs) {
    await sql(
      em,
      `insert into ${T("preference")} (user_id, prefs, updated_at) values (?, ?::jsonb, now()) on conflict do nothing`,
      [p.user, JSON.stringify(p.prefs)],
    );
  }
  const history = [
    {
      key: "demo:welcome",
      template: "announcement",
      priority: "normal",
      data: { title: "Welcome to Hearth", body: "Your onboarding journey starts on your first day." },
      deliveries: [
        { user: person("new.hire"), status: "sent", reason: null, channels: ["activityFeed"] },
        { user: person("hr"), status: "sent", reason: "in digest", channels: ["activityFeed"] },
      ],
    },
    {
      key: "demo:task-due:laptop",
      template: "onboarding.task-due",
      priority: "high",
      data: {
        taskTitle: "Set up your laptop",
        dueAt: new Date(now + 86_400_000).toISOString(),
        description: "IT has it ready.",
      },
      deliveries: [{ user: person("new.hire"), status: "deferred", reason: "quietHours", channels: null }],
    },
    {
      key: "demo:pulse:q4",
      template: "pulse.survey-open",
      priority: "normal",
      kind: "feedbackRequest",
      data: {
        surveyTitle: "Q4 pulse",
        question: "How supported do you feel?",
        closesAt: new Date(now + 5 * 86_400_000).toISOString(),
      },
      deliveries: [
        { user: person("ruby.scott"), status: "sent", reason: null, channels: ["activityFeed", "mail"] },
        {
          user: person("ben.carter"),
          status: "deadLettered",
          reason: "activityFeed: M365_GRAPH_ERROR: Forbidden",
          channels: null,
        },
      ],
    },
  ];
  for (const [i, h] of history.entries()) {
    const requestId = randomUUID();
    const createdAt = new Date(now - (history.length - i) * 3_600_000);
    await sql(
      em,
      `insert into ${T("request")} (id, dedupe_key, template_id, data, priority, kind, source, recipients, created_at)
       values (?, ?, ?, ?::jsonb, ?, ?, 'demo', ?, ?)`,
      [
        requestId,
        h.key,
        h.template,
        JSON.stringify(h.data),
        h.priority,
        h.kind ?? null,
        h.deliveries.length,
        createdAt,
      ],
    );
    for (const d of h.deliveries) {
      await sql(
        em,
        `insert into ${T("delivery")} (id, request_id, user_id, dedupe_key, kind, priority, status, reason, channels,
           attempts, next_attempt_at, digest, sent_at, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, 1, ?, false, ?, ?, ?)`,
        [
          randomUUID(),
          requestId,
          d.user,
          h.key,
          h.kind ?? null,
          h.priority,
          d.status,
          d.reason,
          d.channels ? JSON.stringify(d.channels) : null,
          d.status === "deferred" ? new Date(now + 12 * 3_600_000) : null,
          d.status === "sent" ? createdAt : null,
          createdAt,
          createdAt,
        ],
      );
    }
  }
  return prefs.length + history.length;
}
