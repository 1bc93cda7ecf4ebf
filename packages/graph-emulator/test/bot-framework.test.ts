// The Bot Framework side: bot tokens from Entra ID, the Bot Connector (1:1 conversations, send and update
// activities) with its auth checks and Teams' error codes, and the Bot Framework as issuer of tokens sent to bots.
import http from "node:http";
import test from "ava";
import { createLocalJWKSet, generateKeyPair, jwtVerify, SignJWT } from "jose";
import { BOT_FRAMEWORK_ISSUER, type GraphEmulator } from "../src/index.ts";
import { appToken, request, startForTest } from "./helpers/emulator.ts";

const card = (text: string) => ({
  type: "AdaptiveCard",
  version: "1.5",
  body: [{ type: "TextBlock", text }],
  actions: [{ type: "Action.Execute", verb: "onboarding.completeTask", data: { taskId: "t1" }, title: "Done" }],
});
const message = (text: string) => ({
  type: "message",
  summary: text,
  attachments: [{ contentType: "application/vnd.microsoft.card.adaptive", content: card(text) }],
});

async function botToken(emulator: GraphEmulator): Promise<string> {
  const app = emulator.control.app();
  const response = await request(emulator, `/${emulator.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: app.clientId,
      client_secret: app.clientSecret,
      scope: "https://api.botframework.com/.default",
    }).toString(),
  });
  if (response.status !== 200) throw new Error(response.text);
  return response.body.access_token;
}

const connector = (emulator: GraphEmulator, path: string) => `${emulator.bot.serviceUrl}${path}`;

async function setup() {
  const { emulator } = await startForTest();
  const token = await botToken(emulator);
  const user = emulator.control.tenant.records[5]!.data;
  const create = (body: object, bearer: string | undefined = token) =>
    request(emulator, connector(emulator, "v3/conversations"), { method: "POST", token: bearer, body });
  const oneToOne = {
    isGroup: false,
    bot: { id: `28:${emulator.control.app().clientId}` },
    members: [{ id: user.id }],
    tenantId: emulator.tenantId,
  };
  return { emulator, token, user, create, oneToOne };
}

test("bot token: client credentials for the Bot Framework give aud api.botframework.com and no Graph roles", async (t) => {
  const { emulator, token } = await setup();
  t.teardown(() => emulator.close());
  const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
  t.is(payload.aud, "https://api.botframework.com");
  t.is(payload.appid, emulator.control.app().clientId);
  t.is(payload.tid, emulator.tenantId);
  t.is(payload.roles, undefined);
});

test("create conversation: needs the Teams app installed for the user, then gives the same a: id every time", async (t) => {
  const { emulator, user, create, oneToOne } = await setup();
  t.teardown(() => emulator.close());
  const refused = await create(oneToOne);
  t.is(refused.status, 403);
  t.is(refused.body.error.code, "BotNotInConversationRoster");
  emulator.control.installApp(user.id);
  const created = await create(oneToOne);
  t.is(created.status, 201, created.text);
  t.regex(created.body.id, /^a:1/);
  const again = await create({ ...oneToOne, members: [{ id: `8:orgid:${user.id}` }] });
  t.is(again.body.id, created.body.id, "1:1 conversations are idempotent per member");
  t.is(emulator.bot.conversationWith(user.id)?.id, created.body.id);
});

test("create conversation: Teams' refusals (no tenant, group chats, unknown user, wrong bot, bad tokens)", async (t) => {
  const { emulator, user, create, oneToOne } = await setup();
  t.teardown(() => emulator.close());
  emulator.control.installApp(user.id);
  const { tenantId: _, ...noTenant } = oneToOne;
  t.like((await create(noTenant)).body, { error: { code: "BadSyntax" } });
  const other = emulator.control.tenant.records[6]!.data;
  const group = await create({ ...oneToOne, members: [{ id: user.id }, { id: other.id }] });
  t.is(group.status, 400);
  t.is(group.body.error.code, "BadSyntax");
  t.is((await create({ ...oneToOne, isGroup: true })).status, 400);
  t.is((await create({ ...oneToOne, members: [{ id: "00000000-0000-4000-8000-000000000000" }] })).status, 404);
  t.is((await create({ ...oneToOne, bot: { id: "28:someone-else" } })).status, 400);
  const anonymous = await create(oneToOne, "");
  t.is(anonymous.status, 401);
  t.is(anonymous.body.message, "Authorization has been denied for this request.");
  const graphToken = await appToken(emulator);
  t.is((await create(oneToOne, graphToken)).status, 401, "a Graph token is not a Bot Framework token");
  const { privateKey } = await generateKeyPair("RS256");
  const forged = await new SignJWT({ aud: "https://api.botframework.com", appid: emulator.control.app().clientId })
    .setProtectedHeader({ alg: "RS256" })
    .setIssuer(`https://sts.windows.net/${emulator.tenantId}/`)
    .setExpirationTime("1h")
    .sign(privateKey);
  t.is((await create(oneToOne, forged)).status, 401);
});

test("send and update: activities are kept per conversation, every version; errors as Teams answers them", async (t) => {
  const { emulator, token, user, create, oneToOne } = await setup();
  t.teardown(() => emulator.close());
  emulator.control.installApp(user.id);
  const conversationId = (await create(oneToOne)).body.id as string;
  const activities = connector(emulator, `v3/conversations/${encodeURIComponent(conversationId)}/activities`);
  const sent = await request(emulator, activities, { method: "POST", token, body: message("Laptop set-up is due") });
  t.is(sent.status, 201, sent.text);
  const activityId = sent.body.id as string;
  t.regex(activityId, /^\d+$/);
  const updated = await request(emulator, `${activities}/${activityId}`, {
    method: "PUT",
    token,
    body: { ...message("Laptop set-up: done"), id: activityId },
  });
  t.is(updated.status, 200, updated.text);
  t.is(updated.body.id, activityId);
  const conversation = emulator.bot.conversation(conversationId)!;
  t.is(conversation.userId, user.id);
  t.is(conversation.activities.length, 1);
  const entry = conversation.activities[0]!;
  t.is(entry.versions.length, 2);
  t.is((entry.activity.attachments as any)[0].content.body[0].text, "Laptop set-up: done");
  t.is((entry.activity.from as any).id, `28:${emulator.control.app().clientId}`);

  const missing = await request(emulator, `${activities}/123`, { method: "PUT", token, body: message("x") });
  t.is(missing.status, 404);
  t.is(missing.body.error.code, "ActivityNotFoundInConversation");
  const unknown = await request(emulator, connector(emulator, "v3/conversations/a:nope/activities"), {
    method: "POST",
    token,
    body: message("x"),
  });
  t.is(unknown.body.error.code, "ConversationNotFound");
  const noType = await request(emulator, activities, { method: "POST", token, body: { text: "hi" } });
  t.is(noType.body.error.code, "BadArgument");
  const badCard = await request(emulator, activities, {
    method: "POST",
    token,
    body: { type: "message", attachments: [{ contentType: "application/vnd.microsoft.card.adaptive", content: {} }] },
  });
  t.is(badCard.status, 400);
  const huge = await request(emulator, activities, { method: "POST", token, body: message("x".repeat(30_000)) });
  t.is(huge.status, 413);
  t.is(huge.body.error.code, "MessageSizeTooBig");

  // The person removes the app: the bot is out of the chat.
  const installation = emulator.control.tenant.teamwork.installedFor(user.id)[0]!;
  emulator.control.tenant.teamwork.uninstall(user.id, installation.id);
  const gone = await request(emulator, activities, { method: "POST", token, body: message("x") });
  t.is(gone.status, 403);
  t.is(gone.body.error.code, "BotNotInConversationRoster");
  t.is(conversation.activities.length, 1);

  const overHttps = await request(emulator, `/_emulator/bot/conversations/${encodeURIComponent(conversationId)}`);
  t.is(overHttps.status, 200);
  t.is(overHttps.body.activities[0].id, activityId);
});

test("issuer: OpenID configuration and JWKS; tokens to bots carry iss, aud = bot id and serviceurl", async (t) => {
  const { emulator } = await setup();
  t.teardown(() => emulator.close());
  const config = await request(emulator, emulator.bot.openIdMetadataUrl);
  t.is(config.status, 200);
  t.is(config.body.issuer, BOT_FRAMEWORK_ISSUER);
  t.is(config.body.jwks_uri, emulator.bot.openIdMetadataUrl.replace(/openidconfiguration$/, "keys"));
  const jwks = await request(emulator, config.body.jwks_uri);
  t.deepEqual(jwks.body.keys[0].endorsements, ["msteams"]);
  const botId = emulator.control.app().clientId;
  const token = await emulator.bot.signInboundToken({ audience: botId, serviceUrl: emulator.bot.serviceUrl });
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks.body), {
    issuer: "https://api.botframework.com",
    audience: botId,
  });
  t.is(payload.serviceurl, emulator.bot.serviceUrl);
  const graphToken = await appToken(emulator);
  // Entra's key is not the Bot Framework's: a Graph token does not verify against this JWKS.
  await t.throwsAsync(() => jwtVerify(graphToken, createLocalJWKSet(jwks.body)));
});

test("deliver: posts an Action.Execute invoke to a bot endpoint as Teams does, with a signed token", async (t) => {
  const { emulator, user } = await setup();
  t.teardown(() => emulator.close());
  emulator.control.installApp(user.id);
  const received: Array<{ headers: http.IncomingHttpHeaders; body: any }> = [];
  const server = http.createServer((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: JSON.parse(text) });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ statusCode: 200, type: "application/vnd.microsoft.card.adaptive", value: card("ok") }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => server.close());
  const endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/messages`;
  const result = await emulator.bot.invokeCardAction(endpoint, {
    user: user.userPrincipalName!,
    verb: "onboarding.completeTask",
    data: { taskId: "t1" },
    replyToId: "1700000000000",
  });
  t.is(result.status, 200);
  t.is((result.body as any).value.body[0].text, "ok");
  const { headers, body } = received[0]!;
  t.regex(String(headers.authorization), /^Bearer /);
  t.like(body, {
    type: "invoke",
    name: "adaptiveCard/action",
    channelId: "msteams",
    serviceUrl: emulator.bot.serviceUrl,
    from: { aadObjectId: user.id },
    conversation: { conversationType: "personal", tenantId: emulator.tenantId },
    recipient: { id: `28:${emulator.control.app().clientId}` },
    replyToId: "1700000000000",
    value: { action: { type: "Action.Execute", verb: "onboarding.completeTask", data: { taskId: "t1" } } },
  });
  t.is(body.conversation.id, emulator.bot.conversationWith(user.id)?.id, "the chat the connector knows");

  const overHttps = await request(emulator, "/_emulator/bot/installation-updates", {
    method: "POST",
    body: { endpoint, user: user.id },
  });
  t.is(overHttps.status, 200);
  t.like(received[1]!.body, { type: "installationUpdate", action: "add", from: { aadObjectId: user.id } });
});
