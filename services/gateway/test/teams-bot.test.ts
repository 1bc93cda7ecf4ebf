// The bot endpoint (POST /api/messages) of the real gateway, with the emulator acting as Teams: Bot Framework tokens
// checked by the Teams SDK against the emulator's issuer, conversation references saved on install, Action.Execute
// routed by verb to the service owning it and answered with its new card; bad tokens and bad invokes refused.
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { actionContracts, CARD_ACTION_HANDLERS } from "@hearth/contracts";
import { type GraphEmulator, startGraphEmulator } from "@hearth/graph-emulator";
import { createTestEnvironment, startBroker } from "@hearth/testkit";
import test from "ava";
import { generateKeyPair } from "jose";
import type moleculer from "moleculer";
import { createGatewayService } from "../src/gateway.service.ts";
import { parseCardAction } from "../src/teams-bot.ts";
import { createReferencesStub, createTasksService, taskCard } from "./fixtures/tasks/tasks.service.ts";

let emulator: GraphEmulator;
let broker: moleculer.ServiceBroker;
let endpoint: string;
let cleanup: () => Promise<void>;
const saved: Array<{ reference: any; removed: boolean }> = [];

test.before(async () => {
  emulator = await startGraphEmulator({ tenant: { users: 30, seed: "gateway-bot" }, throttling: false });
  // What NODE_EXTRA_CA_CERTS does for a process started with it: the SDK's JWKS client must trust the emulator.
  tls.setDefaultCACertificates([...tls.getCACertificates("default"), emulator.caPem]);
  const app = emulator.control.app();
  const env = await createTestEnvironment({
    database: "none",
    env: {
      PORT: "0",
      BOT_APP_ID: app.clientId,
      BOT_TENANT_ID: emulator.tenantId,
      BOT_OPENID_URL: emulator.bot.openIdMetadataUrl,
    },
  });
  const gateway = createGatewayService(env.config, Object.values(actionContracts), {
    cardActionHandlers: { ...CARD_ACTION_HANDLERS, tasks: "tasks.handleCardAction" },
  });
  broker = await startBroker(env.config, [gateway, createTasksService(), createReferencesStub(saved)]);
  const service = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
  endpoint = `http://127.0.0.1:${(service.server.address() as AddressInfo).port}/api/messages`;
  cleanup = env.cleanup;
});

test.after.always(async () => {
  await broker?.stop();
  await emulator?.close();
  await cleanup?.();
});

const person = () => emulator.control.tenant.records[4]!.data;
const tasksState = () => broker.call("tasks.state", {}) as Promise<{ done: string[]; actors: string[] }>;
const invoke = (verb: string, data: Record<string, unknown>, options = {}) =>
  emulator.bot.invokeCardAction(endpoint, { user: person().id, verb, data, replyToId: "1700000000001" }, options);
const cardText = (body: any) => body?.value?.body?.[0]?.text as string | undefined;

test.serial("Action.Execute round trip: the owning service changes state and its new card comes back", async (t) => {
  const done = await invoke("tasks.complete", { taskId: "laptop" });
  t.is(done.status, 200);
  t.deepEqual(done.body, {
    statusCode: 200,
    type: "application/vnd.microsoft.card.adaptive",
    value: taskCard("laptop", true),
  });
  t.deepEqual((await tasksState()).done, ["laptop"]);
  t.is((await tasksState()).actors.at(-1), person().id, "the handler is told who pressed the button");
  const reopened = await invoke("tasks.reopen", { taskId: "laptop" });
  t.is(cardText(reopened.body), "Task laptop: to do");
  t.deepEqual((await tasksState()).done, []);
});

test.serial("unknown and malformed invokes get an error card, and nothing changes", async (t) => {
  const before = (await tasksState()).actors.length;
  const unknown = await invoke("payroll.raise", { amount: 1000 });
  t.is(unknown.status, 200);
  t.is((unknown.body as any).type, "application/vnd.microsoft.card.adaptive");
  t.is(cardText(unknown.body), "Hearth does not know this action");
  t.regex((unknown.body as any).value.body[1].text, /payroll\.raise/);
  const noVerb = await invoke("", {});
  t.is(cardText(noVerb.body), "This card could not be read");
  t.regex((noVerb.body as any).value.body[1].text, /verb/);
  const refused = await invoke("tasks.complete", {});
  t.is(cardText(refused.body), "That did not work");
  t.regex((refused.body as any).value.body[1].text, /taskId/);
  const submit = await emulator.bot.deliver(endpoint, {
    type: "invoke",
    name: "adaptiveCard/action",
    from: { id: emulator.bot.userAccountId(person().id), aadObjectId: person().id },
    conversation: { id: "a:1x", conversationType: "personal", tenantId: emulator.tenantId },
    channelData: { tenant: { id: emulator.tenantId } },
    value: { action: { type: "Action.Submit", data: {} } },
  });
  t.is(cardText(submit.body), "This card action is not supported");
  const otherTenant = await emulator.bot.deliver(endpoint, {
    type: "invoke",
    name: "adaptiveCard/action",
    from: { id: "29:1x", aadObjectId: person().id },
    conversation: { id: "a:1x", conversationType: "personal", tenantId: "00000000-0000-4000-8000-000000000009" },
    channelData: { tenant: { id: "00000000-0000-4000-8000-000000000009" } },
    value: { action: { type: "Action.Execute", verb: "tasks.complete", data: { taskId: "x" } } },
  });
  t.is(cardText(otherTenant.body), "Not available here");
  t.is((await tasksState()).actors.length, before, "no task was touched");
});

test.serial("bad tokens are rejected with 401 before anything runs", async (t) => {
  const before = (await tasksState()).actors.length;
  const botId = emulator.control.app().clientId;
  const { privateKey } = await generateKeyPair("RS256");
  const cases: Array<[string, object]> = [
    ["wrong issuer", { tokenOptions: { issuer: "https://sts.windows.net/someone/" } }],
    ["wrong audience", { tokenOptions: { audience: "11111111-1111-4111-8111-111111111111" } }],
    ["serviceurl of another region", { tokenOptions: { serviceUrl: "https://smba.trafficmanager.net/emea/" } }],
    ["no serviceurl claim", { tokenOptions: { serviceUrl: undefined } }],
    ["expired beyond the 5-minute skew", { tokenOptions: { expiresInSeconds: -600 } }],
    ["signed with another key", { tokenOptions: { signingKey: privateKey } }],
    ["no token", { token: null }],
    ["not a JWT", { token: "not-a-token" }],
  ];
  for (const [label, options] of cases) {
    const result = await invoke("tasks.complete", { taskId: label }, { botAppId: botId, ...options });
    t.is(result.status, 401, label);
  }
  t.is((await tasksState()).actors.length, before);
  // The same invoke with a good token goes through: the rejections were about the tokens.
  t.is((await invoke("tasks.complete", { taskId: "ok" })).status, 200);
});

test.serial("an activity without serviceUrl or not an activity at all: 400", async (t) => {
  const token = await emulator.bot.signInboundToken({
    audience: emulator.control.app().clientId,
    serviceUrl: emulator.bot.serviceUrl,
  });
  const post = (body: unknown) =>
    fetch(endpoint, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  t.is((await post({ type: "message", text: "hi" })).status, 400);
  t.is((await post([1, 2])).status, 400);
});

test.serial("install and uninstall: the person's conversation reference goes to m365", async (t) => {
  saved.length = 0;
  emulator.control.installApp(person().id);
  const added = await emulator.bot.installationUpdate(endpoint, person().id, "add");
  t.is(added.status, 200);
  t.is(saved.length, 1);
  t.like(saved[0]!, {
    removed: false,
    reference: {
      userId: person().id,
      tenantId: emulator.tenantId,
      serviceUrl: emulator.bot.serviceUrl,
      botId: `28:${emulator.control.app().clientId}`,
    },
  });
  t.regex(saved[0]!.reference.conversationId, /^a:1/);
  const removed = await emulator.bot.installationUpdate(endpoint, person().id, "remove");
  t.is(removed.status, 200);
  t.like(saved[1]!, { removed: true, reference: { userId: person().id } });
});

test.serial(
  "the rest of the gateway is unchanged: /api/health answers, /api/v1 still wants an Entra token",
  async (t) => {
    const base = endpoint.replace(/\/api\/messages$/, "");
    t.is((await fetch(`${base}/api/health`)).status, 200);
    const botToken = await emulator.bot.signInboundToken({ audience: emulator.control.app().clientId });
    t.is((await fetch(`${base}/api/v1/me`, { headers: { authorization: `Bearer ${botToken}` } })).status, 401);
  },
);

test("an Action.Execute carries the Teams client's locale to the owning service (its card answers in that language)", (t) => {
  const activity = {
    type: "invoke",
    name: "adaptiveCard/action",
    from: { id: "29:1", aadObjectId: person().id, name: "Ana" },
    conversation: { id: "a:1xyz", tenantId: emulator.tenantId },
    channelData: { tenant: { id: emulator.tenantId } },
    locale: "de-DE",
    value: { action: { type: "Action.Execute", verb: "pulse.showSurvey", data: { waveId: "w1" } } },
  };
  const parsed = parseCardAction(activity, emulator.tenantId);
  t.true(parsed.ok);
  t.is(parsed.ok && parsed.params.locale, "de-DE");
  const noLocale = parseCardAction({ ...activity, locale: undefined }, emulator.tenantId);
  t.is(noLocale.ok && noLocale.params.locale, undefined);
});
