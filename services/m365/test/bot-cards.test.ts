// Proactive bot cards through the real m365 service (child node, NATS) against the emulator's Bot Connector:
// install on demand, conversation references kept and reused, updates, stale references, refusals.
import path from "node:path";
import { type GraphEmulator, m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { call } from "@hearth/platform";
import { type ChildNode, createTestEnvironment, spawnNode, startBroker, type TestEnvironment } from "@hearth/testkit";
import test from "ava";
import type moleculer from "moleculer";

let env: TestEnvironment;
let emulator: GraphEmulator;
let broker: moleculer.ServiceBroker;
const nodes: ChildNode[] = [];

const SERVICE = path.join(import.meta.dirname, "..", "src", "m365.service.ts");

test.before(async () => {
  emulator = await startGraphEmulator({ port: 0, tenant: { users: 80, seed: "hearth-m365-bot" }, throttling: true });
  env = await createTestEnvironment();
  const node = spawnNode({ serviceModules: [SERVICE], env: { ...env.env, ...m365ClientEnv(emulator) } });
  nodes.push(node);
  await node.ready;
  broker = await startBroker(env.config, []);
  await broker.waitForServices(["m365"], 10_000);
});

test.after.always(async () => {
  await broker?.stop();
  await Promise.all(nodes.map((n) => n.stop()));
  await emulator?.close();
  await env?.cleanup();
});

const ctx = () => broker.ContextFactory.create(broker, null as never, {}, {}) as moleculer.Context;
const people = () => emulator.control.tenant.records.filter((r) => !r.removed).map((r) => r.data);
const card = (text: string) => ({
  type: "AdaptiveCard" as const,
  version: "1.5",
  body: [{ type: "TextBlock", text }],
  actions: [{ type: "Action.Execute", verb: "onboarding.completeTask", data: { taskId: "t1" }, title: "Done" }],
});
const textOf = (activity: Record<string, unknown>) =>
  (activity.attachments as Array<{ content: { body: Array<{ text: string }> } }>)[0]!.content.body[0]!.text;
const installed = (userId: string) =>
  emulator.control.tenant.teamwork.installedFor(userId).some((i) => i.teamsAppId === emulator.control.teamsApp().id);

test.serial("a person without the app: it is installed through Graph, the chat created, the card posted", async (t) => {
  const person = people()[3]!;
  t.false(installed(person.id));
  const result = await call(ctx(), "m365.sendBotCard", {
    userId: person.id,
    card: card("Set up your laptop is due today"),
    summary: "Set up your laptop is due today",
  });
  t.true(result.installed);
  t.false(result.updated);
  t.true(installed(person.id));
  const conversation = emulator.bot.conversationWith(person.id)!;
  t.is(result.conversationId, conversation.id);
  t.is(conversation.activities.length, 1);
  t.is(conversation.activities[0]!.id, result.activityId);
  t.is(textOf(conversation.activities[0]!.activity), "Set up your laptop is due today");
  t.is(conversation.activities[0]!.activity.summary, "Set up your laptop is due today");
});

test.serial("the next card reuses the kept conversation; an update replaces the card in place", async (t) => {
  const person = people()[3]!;
  const second = await call(ctx(), "m365.sendBotCard", { userId: person.id, card: card("Meet your buddy") });
  t.false(second.installed);
  const conversation = emulator.bot.conversationWith(person.id)!;
  t.is(second.conversationId, conversation.id);
  t.is(conversation.activities.length, 2);
  const updated = await call(ctx(), "m365.sendBotCard", {
    userId: person.id,
    card: card("Meet your buddy: done"),
    updateActivityId: second.activityId,
  });
  t.deepEqual(updated, {
    conversationId: conversation.id,
    activityId: second.activityId,
    installed: false,
    updated: true,
  });
  const entry = conversation.activities.find((a) => a.id === second.activityId)!;
  t.is(entry.versions.length, 2);
  t.is(textOf(entry.activity), "Meet your buddy: done");
  t.is(conversation.activities.length, 2, "an update posts nothing new");
});

test.serial("someone who already has the app (admin policy): no install, just the chat and the card", async (t) => {
  const person = people()[7]!;
  emulator.control.installApp(person.id);
  const result = await call(ctx(), "m365.sendBotCard", { userId: person.id, card: card("Pulse: how was week one?") });
  t.false(result.installed);
  t.is(emulator.bot.conversationWith(person.id)?.activities.length, 1);
});

test.serial(
  "a removed app makes the kept reference stale: it is dropped, the app reinstalled, the card sent",
  async (t) => {
    const person = people()[3]!;
    const teamwork = emulator.control.tenant.teamwork;
    for (const installation of teamwork.installedFor(person.id)) teamwork.uninstall(person.id, installation.id);
    const result = await call(ctx(), "m365.sendBotCard", { userId: person.id, card: card("Welcome back") });
    t.true(result.installed);
    t.is(textOf(emulator.bot.conversationWith(person.id)!.activities.at(-1)!.activity), "Welcome back");
  },
);

test.serial("refusals: an update with no known chat, a card that is not one, a reference from elsewhere", async (t) => {
  const person = people()[11]!;
  const noChat = await t.throwsAsync(
    call(ctx(), "m365.sendBotCard", { userId: person.id, card: card("x"), updateActivityId: "1700000000000" }),
  );
  t.is((noChat as { type?: string }).type, "M365_CONVERSATION_NOT_FOUND");
  t.is((noChat as { code?: number }).code, 404);
  const notACard = await t.throwsAsync(
    call(ctx(), "m365.sendBotCard", { userId: person.id, card: { type: "Message", version: "1.5" } as never }),
  );
  t.deepEqual(
    ((notACard as { data?: { fields?: Array<{ field: string }> } }).data?.fields ?? []).map((f) => f.field),
    ["card.type"],
  );
  const reference = {
    userId: person.id,
    tenantId: emulator.tenantId,
    conversationId: "a:1somewhere",
    serviceUrl: "https://evil.example/teams/",
  };
  const untrusted = await t.throwsAsync(call(ctx(), "m365.saveConversationReference", { reference }));
  t.is((untrusted as { type?: string }).type, "M365_UNTRUSTED_SERVICE_URL");
  const otherTenant = await t.throwsAsync(
    call(ctx(), "m365.saveConversationReference", {
      reference: {
        ...reference,
        serviceUrl: emulator.bot.serviceUrl,
        tenantId: "00000000-0000-4000-8000-000000000001",
      },
    }),
  );
  t.is((otherTenant as { type?: string }).type, "M365_OTHER_TENANT");
  t.is(emulator.bot.conversationWith(person.id), undefined, "nothing was sent");
});

test.serial("saveConversationReference: the reference Teams gave on install is used for the next card", async (t) => {
  const person = people()[15]!;
  emulator.control.installApp(person.id);
  // What the gateway does on installationUpdate: the chat id comes from Teams, not from a create call.
  const teamsChat = emulator.bot.conversationWith(person.id)?.id;
  t.is(teamsChat, undefined);
  const first = await call(ctx(), "m365.sendBotCard", { userId: person.id, card: card("one") });
  const saved = await call(ctx(), "m365.saveConversationReference", {
    reference: {
      userId: person.id,
      tenantId: emulator.tenantId,
      conversationId: first.conversationId,
      serviceUrl: emulator.bot.serviceUrl,
      botId: `28:${emulator.control.app().clientId}`,
    },
  });
  t.deepEqual(saved, { saved: true });
  const removed = await call(ctx(), "m365.saveConversationReference", {
    reference: {
      userId: person.id,
      tenantId: emulator.tenantId,
      conversationId: first.conversationId,
      serviceUrl: emulator.bot.serviceUrl,
    },
    removed: true,
  });
  t.deepEqual(removed, { saved: true });
  // With the reference forgotten, m365 asks the Bot Connector for the chat again: same 1:1 id (idempotent).
  const next = await call(ctx(), "m365.sendBotCard", { userId: person.id, card: card("two") });
  t.is(next.conversationId, first.conversationId);
  t.false(next.installed);
});
