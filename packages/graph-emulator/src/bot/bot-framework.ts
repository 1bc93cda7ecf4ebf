// The emulated Bot Framework: the Bot Connector REST API a bot calls (create a 1:1 conversation, send and update
// activities) under a Teams service URL, and the Bot Framework as the issuer of the tokens Teams sends *to* a bot
// (OpenID configuration + JWKS, signed with a key of its own, not Entra's).
//
// Sources: Bot Connector API reference and authentication
// (https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-api-reference,
// https://learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-authentication), Teams status
// codes of the conversational APIs (https://learn.microsoft.com/microsoftteams/platform/bots/build-conversational-capability#status-codes-from-bot-conversational-apis),
// and the 1:1 CreateConversation behaviour recorded by the Teams SDK team (idempotent per member, `a:` ids,
// `tenantId` required, exactly one member, no group chats).
import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import { BOT_FRAMEWORK_RESOURCE, tokenIssuer } from "../entra/entra.ts";
import { loadOrCreateSigningKey, type SigningKey } from "../entra/signing-key.ts";
import type { Tenant, UserRecord } from "../tenant/tenant.ts";

/** Issuer of the tokens the Bot Framework (Teams) sends to a bot's messaging endpoint. */
export const BOT_FRAMEWORK_ISSUER = "https://api.botframework.com";
/** Teams' limit on a bot message with its cards (https://learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages). */
export const MAX_ACTIVITY_BYTES = 28 * 1024;
const INBOUND_TOKEN_SECONDS = 3600;

export const CONNECTOR_PREFIX = "/smba/teams";
export const BOT_FRAMEWORK_PREFIX = "/botframework";

export type ChannelAccount = { id: string; name?: string; aadObjectId?: string; role?: string };

export type ConnectorActivity = {
  id: string;
  type: string;
  /** The activity as the bot sent it (last version after updates). */
  activity: Record<string, unknown>;
  sentAt: string;
  updatedAt?: string;
  /** Every version, oldest first (the first is what was sent). */
  versions: Array<Record<string, unknown>>;
};

export type BotConversation = {
  id: string;
  tenantId: string;
  botAppId: string;
  userId: string;
  createdAt: string;
  activities: ConnectorActivity[];
};

export type InboundTokenOptions = {
  /** The bot's app id (aud). */
  audience: string;
  serviceUrl?: string;
  issuer?: string;
  /** Negative: an already expired token. Default one hour. */
  expiresInSeconds?: number;
  /** Sign with another key (a forged token): the emulator's JWKS does not know it. */
  signingKey?: CryptoKey;
  kid?: string;
};

export type DeliveryResult = { status: number; body: unknown };

/** What the emulator knows of the Bot Framework side of the tenant. */
export type BotFramework = {
  /** The Teams service URL bots are given (…/smba/teams/), like https://smba.trafficmanager.net/teams/. */
  readonly serviceUrl: string;
  /** Where a bot fetches the Bot Framework's OpenID configuration (…/v1/.well-known/openidconfiguration). */
  readonly openIdMetadataUrl: string;
  readonly issuer: string;
  conversations(): BotConversation[];
  conversation(id: string): BotConversation | undefined;
  /** The 1:1 conversation of a bot with a user, if the bot ever had one. */
  conversationWith(userIdOrUpn: string, botAppId?: string): BotConversation | undefined;
  /** A token as Teams signs it when it calls a bot. */
  signInboundToken(options: InboundTokenOptions): Promise<string>;
  /** The Teams channel account id (29:…) of a user, as the bot sees it. */
  userAccountId(userId: string): string;
  /**
   * Posts an activity to a bot's messaging endpoint as Teams does: fills serviceUrl, channelId, recipient (the bot)
   * and a token, and returns the bot's answer.
   */
  deliver(endpoint: string, activity: Record<string, unknown>, options?: DeliverOptions): Promise<DeliveryResult>;
  /** An Adaptive Card Action.Execute pressed by a user in the bot's 1:1 chat (invoke adaptiveCard/action). */
  invokeCardAction(endpoint: string, action: CardActionInput, options?: DeliverOptions): Promise<DeliveryResult>;
  /** The installationUpdate (add/remove) Teams sends when the app is installed for a user or removed. */
  installationUpdate(
    endpoint: string,
    userIdOrUpn: string,
    action?: "add" | "remove",
    options?: DeliverOptions,
  ): Promise<DeliveryResult>;
};

export type DeliverOptions = {
  botAppId?: string;
  /** Replace the token (e.g. a bad one); null sends no Authorization header. */
  token?: string | null;
  tokenOptions?: Partial<InboundTokenOptions>;
  ca?: string;
};

export type CardActionInput = {
  user: string;
  verb: string;
  data?: Record<string, unknown>;
  /** The message the card was in. */
  replyToId?: string;
  botAppId?: string;
};

type ConnectorRequest = { method: string; path: string; headers: Record<string, string>; rawBody: string };
export type ConnectorResponse = { status: number; headers: Record<string, string>; body: unknown };

class ConnectorError extends Error {
  readonly status: number;
  readonly code: string | undefined;
  constructor(status: number, code: string | undefined, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function loadBotFrameworkKey(dataDir: string): Promise<SigningKey> {
  const dir = path.join(dataDir, "botframework");
  await fs.mkdir(dir, { recursive: true });
  return loadOrCreateSigningKey(dir);
}

function hash(text: string, length: number): string {
  return createHash("sha256").update(text).digest("base64url").slice(0, length);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createBotFramework(
  tenant: Tenant,
  entraKey: SigningKey,
  botKey: SigningKey,
  baseUrl: () => string,
): {
  bot: BotFramework;
  handle(request: ConnectorRequest): Promise<ConnectorResponse | undefined>;
} {
  const conversations = new Map<string, BotConversation>();
  let lastActivityId = 0;

  /** Account ids handed out (in activities), so that a bot can name a user by one. */
  const accounts = new Map<string, string>();
  const userAccountId = (userId: string) => {
    const id = `29:1${hash(`${tenant.tenantId}|user|${userId.toLowerCase()}`, 64)}`;
    accounts.set(id, userId);
    return id;
  };
  const conversationIdFor = (botAppId: string, userId: string) =>
    `a:1${hash(`${tenant.tenantId}|${botAppId}|${userId}`, 96)}`;
  const nextActivityId = () => {
    lastActivityId = Math.max(lastActivityId + 1, Date.now());
    return String(lastActivityId);
  };
  const serviceUrl = () => `${baseUrl()}${CONNECTOR_PREFIX}/`;
  const openIdMetadataUrl = () => `${baseUrl()}${BOT_FRAMEWORK_PREFIX}/v1/.well-known/openidconfiguration`;

  /** A user named by an MRI (29:…), an AAD object id (optionally 8:orgid:…), or a UPN. */
  function findMember(member: ChannelAccount): UserRecord | undefined {
    const raw = member.aadObjectId ?? member.id;
    if (typeof raw !== "string") return undefined;
    if (raw.startsWith("29:")) {
      const userId = accounts.get(raw);
      return userId === undefined ? undefined : tenant.find(userId);
    }
    const id = raw.replace(/^8:orgid:/, "");
    return GUID.test(id) ? tenant.find(id) : undefined;
  }

  function installed(botAppId: string, userId: string): boolean {
    const app = tenant.teamwork.catalogAppFor(botAppId);
    return tenant.teamwork.installedFor(userId).some((i) => i.teamsAppId === app.id);
  }

  async function authenticate(headers: Record<string, string>): Promise<{ appId: string; tenantId: string }> {
    const match = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? "");
    // The connector answers 401 with ASP.NET's bare message, not its ErrorResponse.
    if (!match) throw new ConnectorError(401, undefined, "Authorization has been denied for this request.");
    try {
      const { payload } = await jwtVerify(match[1]!, entraKey.publicKey, {
        algorithms: ["RS256"],
        issuer: tokenIssuer(tenant.tenantId),
        audience: BOT_FRAMEWORK_RESOURCE,
      });
      const appId = String(payload.appid ?? payload.azp ?? "");
      if (!tenant.apps.has(appId)) throw new Error("unknown app");
      return { appId, tenantId: String(payload.tid ?? "") };
    } catch (error) {
      const expired = error instanceof joseErrors.JWTExpired;
      throw new ConnectorError(
        401,
        undefined,
        expired
          ? "Authorization has been denied for this request. The token is expired."
          : "Authorization has been denied for this request.",
      );
    }
  }

  function parseBody(rawBody: string): Record<string, unknown> {
    if (!rawBody) throw new ConnectorError(400, "BadSyntax", "The request body is empty.");
    try {
      const body = JSON.parse(rawBody) as unknown;
      if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("not an object");
      return body as Record<string, unknown>;
    } catch {
      throw new ConnectorError(400, "BadSyntax", "The request body is not valid JSON.");
    }
  }

  function checkActivity(activity: Record<string, unknown>, rawBody: string): void {
    if (typeof activity.type !== "string" || activity.type.length === 0)
      throw new ConnectorError(400, "BadArgument", "Activity type is required.");
    if (Buffer.byteLength(rawBody) > MAX_ACTIVITY_BYTES)
      throw new ConnectorError(413, "MessageSizeTooBig", "Message size too large.");
    const attachments = activity.attachments;
    if (attachments !== undefined && !Array.isArray(attachments))
      throw new ConnectorError(400, "BadArgument", "Activity attachments must be an array.");
    for (const attachment of (attachments as unknown[] | undefined) ?? []) {
      const a = attachment as { contentType?: unknown; content?: unknown };
      if (typeof a?.contentType !== "string")
        throw new ConnectorError(400, "BadArgument", "Attachment contentType is required.");
      if (a.contentType === "application/vnd.microsoft.card.adaptive") {
        const card = a.content as { type?: unknown; version?: unknown } | undefined;
        if (card?.type !== "AdaptiveCard" || typeof card.version !== "string")
          throw new ConnectorError(400, "BadArgument", "The Adaptive Card attachment is not a valid card.");
      }
    }
  }

  /** The conversation, checked against the calling bot and the app still being installed for the user. */
  function conversationFor(id: string, appId: string): BotConversation {
    const conversation = conversations.get(id);
    if (!conversation || conversation.botAppId !== appId)
      throw new ConnectorError(404, "ConversationNotFound", "Conversation not found.");
    if (!installed(appId, conversation.userId))
      throw new ConnectorError(403, "BotNotInConversationRoster", "The bot is not part of the conversation roster.");
    return conversation;
  }

  async function createConversation(request: ConnectorRequest): Promise<ConnectorResponse> {
    const caller = await authenticate(request.headers);
    const body = parseBody(request.rawBody);
    const channelTenant = (body.channelData as { tenant?: { id?: unknown } } | undefined)?.tenant?.id;
    const tenantId = typeof body.tenantId === "string" ? body.tenantId : channelTenant;
    if (typeof tenantId !== "string")
      throw new ConnectorError(400, "BadSyntax", "Incorrect conversation creation parameters");
    if (tenantId.toLowerCase() !== tenant.tenantId.toLowerCase())
      throw new ConnectorError(403, "Forbidden", "The bot is not allowed to create conversations in this tenant.");
    const bot = body.bot as ChannelAccount | undefined;
    if (bot !== undefined && bot.id !== `28:${caller.appId}` && bot.id !== caller.appId)
      throw new ConnectorError(400, "BadArgument", "The bot id does not match the token's application.");
    const members = body.members;
    // Teams creates 1:1 chats and channel threads only; group chats are refused whatever the parameters.
    if (body.isGroup === true || !Array.isArray(members) || members.length !== 1)
      throw new ConnectorError(400, "BadSyntax", "Incorrect conversation creation parameters");
    const user = findMember(members[0] as ChannelAccount);
    if (!user) throw new ConnectorError(404, "NotFound", "The user was not found in the tenant.");
    if (!installed(caller.appId, user.data.id))
      throw new ConnectorError(403, "BotNotInConversationRoster", "The bot is not part of the conversation roster.");
    const id = conversationIdFor(caller.appId, user.data.id);
    let conversation = conversations.get(id);
    if (!conversation) {
      conversation = {
        id,
        tenantId: tenant.tenantId,
        botAppId: caller.appId,
        userId: user.data.id,
        createdAt: new Date().toISOString(),
        activities: [],
      };
      conversations.set(id, conversation);
    }
    const initial = body.activity as Record<string, unknown> | undefined;
    if (initial !== undefined) {
      checkActivity(initial, JSON.stringify(initial));
      record(conversation, initial, caller.appId);
    }
    return json(201, { id });
  }

  function record(conversation: BotConversation, activity: Record<string, unknown>, appId: string): ConnectorActivity {
    const id = nextActivityId();
    const stored = {
      ...activity,
      id,
      conversation: { id: conversation.id, conversationType: "personal", tenantId: conversation.tenantId },
      from: { id: `28:${appId}`, ...((activity.from as object | undefined) ?? {}) },
      timestamp: new Date().toISOString(),
    };
    const entry: ConnectorActivity = {
      id,
      type: String(activity.type),
      activity: stored,
      sentAt: stored.timestamp,
      versions: [stored],
    };
    conversation.activities.push(entry);
    return entry;
  }

  async function sendActivity(request: ConnectorRequest, conversationId: string): Promise<ConnectorResponse> {
    const caller = await authenticate(request.headers);
    const conversation = conversationFor(conversationId, caller.appId);
    const activity = parseBody(request.rawBody);
    checkActivity(activity, request.rawBody);
    const entry = record(conversation, activity, caller.appId);
    return json(201, { id: entry.id });
  }

  async function updateActivity(
    request: ConnectorRequest,
    conversationId: string,
    activityId: string,
  ): Promise<ConnectorResponse> {
    const caller = await authenticate(request.headers);
    const conversation = conversationFor(conversationId, caller.appId);
    const activity = parseBody(request.rawBody);
    checkActivity(activity, request.rawBody);
    const entry = conversation.activities.find((a) => a.id === activityId);
    if (!entry) throw new ConnectorError(404, "ActivityNotFoundInConversation", "Activity not found in conversation.");
    const updated = {
      ...entry.activity,
      ...activity,
      id: entry.id,
      conversation: entry.activity.conversation,
      from: entry.activity.from,
      timestamp: entry.activity.timestamp,
    };
    entry.activity = updated;
    entry.updatedAt = new Date().toISOString();
    entry.versions.push(updated);
    return json(200, { id: entry.id });
  }

  function openIdConfiguration(): Record<string, unknown> {
    const base = `${baseUrl()}${BOT_FRAMEWORK_PREFIX}`;
    return {
      issuer: BOT_FRAMEWORK_ISSUER,
      authorization_endpoint: `${base}/v1/botframework.com/oauth2/v2.0/authorize`,
      jwks_uri: `${base}/v1/.well-known/keys`,
      id_token_signing_alg_values_supported: ["RS256"],
      token_endpoint_auth_methods_supported: ["private_key_jwt"],
    };
  }

  async function handle(request: ConnectorRequest): Promise<ConnectorResponse | undefined> {
    const { method, path: requestPath } = request;
    try {
      if (requestPath.startsWith(`${BOT_FRAMEWORK_PREFIX}/`)) {
        const rest = requestPath.slice(BOT_FRAMEWORK_PREFIX.length);
        if (rest === "/v1/.well-known/openidconfiguration" && method === "GET") return json(200, openIdConfiguration());
        if (rest === "/v1/.well-known/keys" && method === "GET") {
          // Teams' signing keys carry the channels they may sign for.
          return json(200, { keys: [{ ...botKey.publicJwk, x5t: botKey.kid, endorsements: ["msteams"] }] });
        }
        return undefined;
      }
      if (!requestPath.startsWith(`${CONNECTOR_PREFIX}/`)) return undefined;
      const rest = requestPath.slice(CONNECTOR_PREFIX.length);
      if (rest === "/v3/conversations") {
        if (method === "POST") return await createConversation(request);
        // Teams does not list a bot's conversations (only Direct Line and Web Chat do).
        throw new ConnectorError(
          405,
          "MethodNotAllowed",
          `The requested resource does not support http method '${method}'.`,
        );
      }
      let match = /^\/v3\/conversations\/([^/]+)\/activities\/?$/.exec(rest);
      if (match) {
        if (method === "POST") return await sendActivity(request, decodeURIComponent(match[1]!));
        throw new ConnectorError(
          405,
          "MethodNotAllowed",
          `The requested resource does not support http method '${method}'.`,
        );
      }
      match = /^\/v3\/conversations\/([^/]+)\/activities\/([^/]+)$/.exec(rest);
      if (match) {
        const [conversationId, activityId] = [decodeURIComponent(match[1]!), decodeURIComponent(match[2]!)];
        if (method === "PUT") return await updateActivity(request, conversationId, activityId);
        // A reply to an activity is a new activity in the same conversation.
        if (method === "POST") return await sendActivity(request, conversationId);
        throw new ConnectorError(
          405,
          "MethodNotAllowed",
          `The requested resource does not support http method '${method}'.`,
        );
      }
      return json(404, { error: { code: "NotFound", message: `No connector route ${rest}` } });
    } catch (error) {
      if (!(error instanceof ConnectorError)) throw error;
      if (error.code === undefined) return json(error.status, { message: error.message });
      return json(error.status, { error: { code: error.code, message: error.message } });
    }
  }

  async function signInboundToken(options: InboundTokenOptions): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = options.expiresInSeconds ?? INBOUND_TOKEN_SECONDS;
    const claims: Record<string, unknown> = {
      aud: options.audience,
      iss: options.issuer ?? BOT_FRAMEWORK_ISSUER,
      nbf: Math.min(now, now + lifetime) - 300,
      iat: Math.min(now, now + lifetime) - 300,
      exp: now + lifetime,
      ...(options.serviceUrl !== undefined ? { serviceurl: options.serviceUrl } : {}),
    };
    return new SignJWT(claims)
      .setProtectedHeader({ typ: "JWT", alg: "RS256", x5t: options.kid ?? botKey.kid, kid: options.kid ?? botKey.kid })
      .sign(options.signingKey ?? botKey.privateKey);
  }

  function defaultBotAppId(): string {
    return tenant.apps.keys().next().value!;
  }

  function requireUser(idOrUpn: string): UserRecord {
    const user = tenant.find(idOrUpn);
    if (!user) throw new Error(`no user ${idOrUpn}`);
    return user;
  }

  async function deliver(
    endpoint: string,
    activity: Record<string, unknown>,
    options: DeliverOptions = {},
  ): Promise<DeliveryResult> {
    const botAppId = options.botAppId ?? defaultBotAppId();
    const app = tenant.app(botAppId);
    const full = {
      channelId: "msteams",
      serviceUrl: serviceUrl(),
      id: `f:${randomUUID()}`,
      timestamp: new Date().toISOString(),
      recipient: { id: `28:${botAppId}`, name: app.displayName },
      ...activity,
    };
    const token =
      options.token === undefined
        ? await signInboundToken({ audience: botAppId, serviceUrl: serviceUrl(), ...options.tokenOptions })
        : options.token;
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: JSON.stringify(full),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body };
  }

  function personalConversation(botAppId: string, user: UserRecord) {
    return {
      conversationType: "personal",
      tenantId: tenant.tenantId,
      id: conversationIdFor(botAppId, user.data.id),
    };
  }

  function userAccount(user: UserRecord): ChannelAccount {
    return { id: userAccountId(user.data.id), name: user.data.displayName ?? undefined, aadObjectId: user.data.id };
  }

  const bot: BotFramework = {
    get serviceUrl() {
      return serviceUrl();
    },
    get openIdMetadataUrl() {
      return openIdMetadataUrl();
    },
    issuer: BOT_FRAMEWORK_ISSUER,
    conversations: () => [...conversations.values()],
    conversation: (id) => conversations.get(id),
    conversationWith(userIdOrUpn, botAppId = defaultBotAppId()) {
      const user = tenant.find(userIdOrUpn);
      return user ? conversations.get(conversationIdFor(botAppId, user.data.id)) : undefined;
    },
    signInboundToken,
    userAccountId,
    deliver,
    async invokeCardAction(endpoint, action, options = {}) {
      const botAppId = action.botAppId ?? options.botAppId ?? defaultBotAppId();
      const user = requireUser(action.user);
      const conversation = personalConversation(botAppId, user);
      // A chat Teams knows of: make it exist on the connector side too, so the bot can update the card later.
      if (!conversations.has(conversation.id) && installed(botAppId, user.data.id)) {
        conversations.set(conversation.id, {
          id: conversation.id,
          tenantId: tenant.tenantId,
          botAppId,
          userId: user.data.id,
          createdAt: new Date().toISOString(),
          activities: [],
        });
      }
      return deliver(
        endpoint,
        {
          type: "invoke",
          name: "adaptiveCard/action",
          from: userAccount(user),
          conversation,
          ...(action.replyToId ? { replyToId: action.replyToId } : {}),
          locale: user.data.preferredLanguage ?? "en-US",
          value: {
            action: { type: "Action.Execute", verb: action.verb, data: action.data ?? {} },
            trigger: "manual",
          },
          channelData: {
            tenant: { id: tenant.tenantId },
            source: { name: "message" },
            ...(action.replyToId ? { legacy: { replyToId: action.replyToId } } : {}),
          },
        },
        { ...options, botAppId },
      );
    },
    async installationUpdate(endpoint, userIdOrUpn, action = "add", options = {}) {
      const botAppId = options.botAppId ?? defaultBotAppId();
      const user = requireUser(userIdOrUpn);
      return deliver(
        endpoint,
        {
          type: "installationUpdate",
          action,
          from: userAccount(user),
          conversation: personalConversation(botAppId, user),
          channelData: { tenant: { id: tenant.tenantId }, source: null },
          locale: user.data.preferredLanguage ?? "en-US",
        },
        { ...options, botAppId },
      );
    },
  };
  return { bot, handle };
}

function json(status: number, body: unknown): ConnectorResponse {
  return { status, headers: { "content-type": "application/json; charset=utf-8" }, body };
}
