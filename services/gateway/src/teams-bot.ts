// The Teams bot endpoint (POST /api/messages) on the Teams SDK (@microsoft/teams.apps): the SDK checks the Bot
// Framework token (RS256 against the issuer's JWKS, cached by jwks-rsa; iss; aud = the bot's app id; the serviceurl
// claim equal to the activity's serviceUrl; 5 minutes of clock skew) and routes the activity. Hearth then stores
// conversation references on install and sends Adaptive Card Action.Execute invokes to the service owning the verb.
//
// The SDK's HTTP server is an adapter seam: instead of its Express server we hand it the requests moleculer-web
// receives, so the bot shares the gateway's port, body limit and error envelope.
import {
  CARD_ACTION_HANDLERS,
  cardActionHandlerFor,
  type TAdaptiveCard,
  type TCardActionParams,
  ZCardActionParams,
  ZCardActionResult,
} from "@hearth/contracts";
import type { BotConfig } from "@hearth/platform";
import { PUBLIC, withOverrides } from "@microsoft/teams.api";
import { App, type HttpRouteHandler, type IHttpServerAdapter } from "@microsoft/teams.apps";
import type moleculer from "moleculer";

type Logger = moleculer.Service["logger"];

export const MESSAGING_ENDPOINT = "/api/messages";
const CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive" as const;

export type TeamsBotOptions = {
  bot: BotConfig;
  broker: moleculer.ServiceBroker;
  logger: Logger;
  /** Verb prefix → internal action; default the registry in packages/contracts. */
  cardActionHandlers?: Readonly<Record<string, string>>;
  /** Timeout of a card action handler call (Teams waits about 15 s for an invoke response). */
  handlerTimeoutMs?: number;
};

export type BotResponse = { status: number; body?: unknown };

export type TeamsBot = {
  handle(body: unknown, headers: Record<string, string | string[] | undefined>): Promise<BotResponse>;
};

/** The SDK's transport seam: it registers its messaging route here and we call it with each request. */
class GatewayAdapter implements IHttpServerAdapter {
  handler?: HttpRouteHandler;
  registerRoute(method: string, path: string, handler: HttpRouteHandler): void {
    if (method === "POST" && path === MESSAGING_ENDPOINT) this.handler = handler;
  }
}

/** The SDK's logger interface onto the gateway's structured logger. */
function sdkLogger(logger: Logger, name = "teams-sdk") {
  const text = (msg: unknown[]) =>
    msg.map((m) => (m instanceof Error ? m.message : typeof m === "string" ? m : JSON.stringify(m))).join(" ");
  const sdk = {
    debug: (...msg: unknown[]) => logger.debug(`${name}: ${text(msg)}`),
    info: (...msg: unknown[]) => logger.debug(`${name}: ${text(msg)}`),
    // The SDK logs every rejected token as an error; to us that is a caller's fault, not ours.
    warn: (...msg: unknown[]) => logger.warn(`${name}: ${text(msg)}`),
    error: (...msg: unknown[]) => logger.warn(`${name}: ${text(msg)}`),
    trace: (...msg: unknown[]) => logger.trace(`${name}: ${text(msg)}`),
    log: (level: string, ...msg: unknown[]) => logger.debug(`${name} [${level}]: ${text(msg)}`),
    child: (child: string) => sdkLogger(logger, `${name}/${child}`),
  };
  return sdk;
}

/** A card telling the person what went wrong, in place of the card they acted on. */
export function errorCard(title: string, detail: string): TAdaptiveCard {
  return {
    type: "AdaptiveCard",
    version: "1.5",
    body: [
      { type: "TextBlock", text: title, weight: "Bolder", size: "Medium", wrap: true, color: "Attention" },
      { type: "TextBlock", text: detail, wrap: true, isSubtle: true },
    ],
  };
}

// The SDK types the card with its own card builder's model; ours is the JSON Teams renders.
const cardResponse = (card: TAdaptiveCard) => ({
  statusCode: 200 as const,
  type: CARD_CONTENT_TYPE,
  value: card as never,
});

type Account = { id?: string; aadObjectId?: string; name?: string };
type InboundActivity = {
  type?: string;
  name?: string;
  action?: string;
  serviceUrl?: string;
  id?: string;
  replyToId?: string;
  from?: Account;
  recipient?: Account;
  conversation?: { id?: string; tenantId?: string; conversationType?: string };
  channelData?: { tenant?: { id?: string } };
  locale?: string;
  membersAdded?: Account[];
  value?: unknown;
};

function tenantOf(activity: InboundActivity): string | undefined {
  return activity.channelData?.tenant?.id ?? activity.conversation?.tenantId;
}

/** Why an Action.Execute cannot be routed, or the parameters for its handler. */
export function parseCardAction(
  activity: InboundActivity,
  tenantId: string,
): { ok: true; params: TCardActionParams } | { ok: false; title: string; detail: string } {
  const action = (activity.value as { action?: { type?: unknown; verb?: unknown; data?: unknown } } | undefined)
    ?.action;
  if (action?.type !== "Action.Execute") {
    return {
      ok: false,
      title: "This card action is not supported",
      detail: "Only Action.Execute buttons are handled.",
    };
  }
  const actorTenant = tenantOf(activity);
  if (!actorTenant || actorTenant.toLowerCase() !== tenantId.toLowerCase()) {
    return { ok: false, title: "Not available here", detail: "Hearth only serves its own organisation." };
  }
  const parsed = ZCardActionParams.safeParse({
    verb: action.verb,
    data: action.data ?? {},
    user: { aadObjectId: activity.from?.aadObjectId, tenantId: actorTenant, name: activity.from?.name },
    conversationId: activity.conversation?.id,
    activityId: activity.replyToId,
    locale: typeof activity.locale === "string" && activity.locale.length <= 35 ? activity.locale : undefined,
  });
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join(".")).join(", ");
    return {
      ok: false,
      title: "This card could not be read",
      detail: `The action is malformed (${fields}). Open Hearth to carry on.`,
    };
  }
  return { ok: true, params: parsed.data };
}

export function createTeamsBot(options: TeamsBotOptions): TeamsBot {
  const { bot, broker, logger } = options;
  const handlers = options.cardActionHandlers ?? CARD_ACTION_HANDLERS;
  const adapter = new GatewayAdapter();
  const app = new App({
    clientId: bot.appId,
    tenantId: bot.tenantId,
    // The gateway never posts as the bot (m365 does), so it holds no bot secret.
    token: async () => {
      throw new Error("the gateway does not send as the bot; m365 owns the Bot Connector");
    },
    cloud: withOverrides(PUBLIC, { openIdMetadataUrl: bot.openIdMetadataUrl, tokenIssuer: bot.tokenIssuer }),
    httpServerAdapter: adapter,
    messagingEndpoint: MESSAGING_ENDPOINT,
    // Explicit, so that no environment variable can turn token checks off.
    dangerouslyAllowUnauthenticatedRequests: false,
    state: false,
    logger: sdkLogger(logger) as never,
  });

  async function saveReference(activity: InboundActivity, removed: boolean): Promise<void> {
    const userId = activity.from?.aadObjectId;
    const tenantId = tenantOf(activity);
    if (activity.conversation?.conversationType !== "personal" || !userId || !tenantId) return;
    if (tenantId.toLowerCase() !== bot.tenantId.toLowerCase()) {
      logger.warn("Teams install from another tenant ignored", { tenantId });
      return;
    }
    await broker.call("m365.saveConversationReference", {
      reference: {
        userId,
        tenantId,
        conversationId: activity.conversation.id,
        serviceUrl: activity.serviceUrl,
        ...(activity.recipient?.id ? { botId: activity.recipient.id } : {}),
      },
      removed,
    });
    logger.info(removed ? "Bot removed by a person" : "Bot installed for a person", { userId });
  }

  app.on("install.add", async ({ activity }) => saveReference(activity as InboundActivity, false));
  app.on("install.remove", async ({ activity }) => saveReference(activity as InboundActivity, true));
  app.on("conversationUpdate", async ({ activity }) => {
    const a = activity as InboundActivity;
    if (a.membersAdded?.some((m) => m.id === a.recipient?.id)) await saveReference(a, false);
  });

  app.on("card.action", async ({ activity }) => {
    const parsed = parseCardAction(activity as InboundActivity, bot.tenantId);
    if (!parsed.ok) return cardResponse(errorCard(parsed.title, parsed.detail));
    const { params } = parsed;
    const handler = cardActionHandlerFor(params.verb, handlers);
    if (!handler) {
      logger.info("Card action with an unknown verb", { verb: params.verb });
      return cardResponse(errorCard("Hearth does not know this action", `No part of Hearth handles "${params.verb}".`));
    }
    try {
      const result = await broker.call(handler, params, {
        timeout: options.handlerTimeoutMs ?? 10_000,
        meta: { caller: { tenantId: params.user.tenantId, objectId: params.user.aadObjectId, roles: ["Employee"] } },
      });
      const checked = ZCardActionResult.safeParse(result);
      if (!checked.success) {
        logger.error("Card action handler returned no valid card", { handler, verb: params.verb });
        return cardResponse(errorCard("Something went wrong", "Hearth could not show the result. Try again later."));
      }
      return cardResponse(checked.data.card);
    } catch (error) {
      return cardResponse(errorCardFor(error, handler, params.verb, logger));
    }
  });

  let ready: Promise<void> | undefined;
  return {
    async handle(body, headers) {
      ready ??= app.initialize();
      await ready;
      const activity = body as InboundActivity | undefined;
      if (typeof activity !== "object" || activity === null || typeof activity.type !== "string") {
        return { status: 400, body: { error: "The body must be a Bot Framework activity" } };
      }
      // The SDK compares the token's serviceurl claim with the activity's serviceUrl only when the activity has
      // one; Teams always sends it, so an activity without it is refused rather than trusted.
      if (typeof activity.serviceUrl !== "string" || activity.serviceUrl.length === 0) {
        return { status: 400, body: { error: "The activity has no serviceUrl" } };
      }
      const normalized: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(headers)) if (value !== undefined) normalized[name] = value;
      const response = await adapter.handler!({ body, headers: normalized });
      return { status: response.status, body: response.body };
    },
  };
}

function errorCardFor(error: unknown, handler: string, verb: string, logger: Logger): TAdaptiveCard {
  const e = error as { name?: string; code?: number; type?: string; message?: string };
  if (e.name === "ServiceNotFoundError" || e.name === "ServiceNotAvailableError" || e.code === 503) {
    logger.warn("Card action handler unavailable", { handler, verb, error: e.message });
    return errorCard("Not available right now", "This part of Hearth is not reachable. Try again in a moment.");
  }
  if (e.name === "RequestTimeoutError") {
    logger.warn("Card action handler timed out", { handler, verb });
    return errorCard("That took too long", "Hearth did not answer in time. Try again in a moment.");
  }
  if (typeof e.code === "number" && e.code >= 400 && e.code < 500) {
    logger.info("Card action refused", { handler, verb, code: e.code, type: e.type });
    return errorCard("That did not work", e.message ?? "The action was refused.");
  }
  logger.error("Card action failed", { handler, verb, error: e.message });
  return errorCard("Something went wrong", "Hearth could not complete this action. Try again later.");
}

type BotHost = moleculer.Service & { teamsBot?: TeamsBot };
type RawRequest = import("node:http").IncomingMessage & { body?: unknown };

/** The moleculer-web route of the bot endpoint (POST /api/messages): no Entra bearer check, the SDK checks. */
export function teamsBotRoute(
  bot: BotConfig | undefined,
  bodyLimit: string,
  cardActionHandlers?: Record<string, string>,
) {
  return {
    name: "teams-bot",
    path: "/",
    mappingPolicy: "restrict",
    authentication: false,
    authorization: false,
    autoAliases: false,
    bodyParsers: { json: { strict: true, limit: bodyLimit }, urlencoded: false },
    aliases: {
      async "POST /messages"(this: BotHost, req: RawRequest, res: import("node:http").ServerResponse) {
        if (!bot) {
          throw Object.assign(new Error("The Teams bot is not configured (BOT_APP_ID, BOT_TENANT_ID)"), {
            code: 503,
            type: "BOT_NOT_CONFIGURED",
          });
        }
        this.teamsBot ??= createTeamsBot({
          bot,
          broker: this.broker,
          logger: this.logger,
          ...(cardActionHandlers ? { cardActionHandlers } : {}),
        });
        const response = await this.teamsBot.handle(req.body, req.headers);
        const payload = response.body === undefined ? "" : JSON.stringify(response.body);
        res.writeHead(response.status, {
          "Cache-Control": "no-store",
          ...(payload ? { "Content-Type": "application/json; charset=utf-8" } : {}),
        });
        res.end(payload);
      },
    },
  };
}
