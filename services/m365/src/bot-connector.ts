// The Bot Connector (Teams' REST API for bots), called as Hearth's bot: create a 1:1 conversation, send and update
// activities. Tokens: client credentials for the bot's app id, scope https://api.botframework.com/.default (MSAL
// caches them). Every call draws on the cluster-wide "bots" budget and retries what Teams asks bots to retry
// (429 honouring Retry-After, 412, 502, 503, 504 — shared/reference/m365.md §2).
import { setTimeout as sleep } from "node:timers/promises";
import { ClientSecretCredential, type TokenCredential } from "@azure/identity";
import type { BotConfig } from "@hearth/platform";
import moleculer from "moleculer";
import type { BudgetStore } from "./budget.ts";
import { backoffMs, retryAfterMs } from "./domain/batch.ts";
import { M365AuthenticationError, M365UnreachableError } from "./errors.ts";

const { MoleculerError, MoleculerClientError } = moleculer.Errors;

export const BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default";
const RETRIED_STATUSES = new Set([412, 429, 502, 503, 504]);
const MICROSOFT_AUTHORITY = "https://login.microsoftonline.com";

/** Teams answered with an error; `code` is its ErrorResponse code (BotNotInConversationRoster, …). */
export class BotConnectorError extends MoleculerError {
  readonly connectorCode: string;
  constructor(operation: string, status: number, code: string, message: string) {
    super(
      `Bot Connector ${operation} failed with ${status} ${code}: ${message}`,
      status >= 400 && status < 600 ? status : 502,
      "M365_BOT_CONNECTOR_ERROR",
      { status, code },
    );
    this.connectorCode = code;
    this.retryable = status >= 500 || status === 429;
  }
}

export class BotNotConfiguredError extends MoleculerError {
  constructor() {
    super(
      "Hearth's Teams bot is not configured (BOT_APP_ID, BOT_APP_PASSWORD, BOT_TENANT_ID)",
      503,
      "M365_BOT_NOT_CONFIGURED",
    );
  }
}

/** A service URL Hearth may send the bot's token to: the configured one's origin or a Teams Bot Connector host. */
export function isTrustedServiceUrl(serviceUrl: string, configured: string): boolean {
  let url: URL;
  try {
    url = new URL(serviceUrl);
  } catch {
    return false;
  }
  if (url.origin === new URL(configured).origin) return true;
  return (
    url.protocol === "https:" &&
    /(^|\.)smba\.trafficmanager\.net$|\.teams\.microsoft\.(com|us)$|\.botframework\.azure\.(us|cn)$/.test(url.hostname)
  );
}

export class UntrustedServiceUrlError extends MoleculerClientError {
  constructor(serviceUrl: string) {
    super(`The service URL ${serviceUrl} is not a Teams Bot Connector`, 422, "M365_UNTRUSTED_SERVICE_URL", {
      fields: [{ field: "reference.serviceUrl", message: "not a Teams Bot Connector URL" }],
    });
  }
}

export type Activity = Record<string, unknown> & { type: string };

export type BotConnector = {
  readonly appId: string;
  readonly defaultServiceUrl: string;
  createConversation(serviceUrl: string, userId: string, tenantId: string): Promise<string>;
  sendActivity(serviceUrl: string, conversationId: string, activity: Activity): Promise<string>;
  updateActivity(serviceUrl: string, conversationId: string, activityId: string, activity: Activity): Promise<void>;
};

export function createBotCredential(bot: BotConfig, authorityHost: string): TokenCredential {
  if (!bot.password) throw new BotNotConfiguredError();
  return new ClientSecretCredential(bot.tenantId, bot.appId, bot.password, {
    authorityHost,
    ...(authorityHost === MICROSOFT_AUTHORITY ? {} : { disableInstanceDiscovery: true }),
  });
}

export function createBotConnector(options: {
  bot: BotConfig;
  credential: TokenCredential;
  budgets: BudgetStore;
  maxAttempts: number;
}): BotConnector {
  const { bot, credential, budgets, maxAttempts } = options;

  async function token(): Promise<string> {
    try {
      const result = await credential.getToken(BOT_FRAMEWORK_SCOPE);
      if (!result) throw new Error(`no token for ${BOT_FRAMEWORK_SCOPE}`);
      return result.token;
    } catch (error) {
      throw new M365AuthenticationError(
        String((error as Error).message ?? error)
          .split("\n")[0]!
          .slice(0, 500),
      );
    }
  }

  async function call(operation: string, method: string, url: string, body: unknown): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      await budgets.take("bots", 1, "");
      let response: Response;
      try {
        response = await fetch(url, {
          method,
          headers: { authorization: `Bearer ${await token()}`, "content-type": "application/json; charset=utf-8" },
          body: JSON.stringify(body),
        });
      } catch (error) {
        if (error instanceof M365AuthenticationError) throw error;
        throw new M365UnreachableError(`${(error as Error).message}${causeOf(error)}`);
      }
      if (response.ok) {
        const text = await response.text();
        return text ? JSON.parse(text) : undefined;
      }
      if (RETRIED_STATUSES.has(response.status) && attempt < maxAttempts) {
        await response.body?.cancel().catch(() => undefined);
        const wait = retryAfterMs(response.headers.get("Retry-After")) ?? backoffMs(attempt);
        if (response.status === 429) await budgets.pause("bots", wait, "");
        else await sleep(wait);
        continue;
      }
      const text = await response.text();
      let code = `HTTP${response.status}`;
      let message = text.slice(0, 300);
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string }; message?: string };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? parsed.message ?? message;
      } catch {
        // not JSON: keep the text
      }
      throw new BotConnectorError(operation, response.status, code, message);
    }
  }

  const base = (serviceUrl: string) => {
    if (!isTrustedServiceUrl(serviceUrl, bot.serviceUrl)) throw new UntrustedServiceUrlError(serviceUrl);
    return serviceUrl.endsWith("/") ? serviceUrl : `${serviceUrl}/`;
  };
  const conversationPath = (serviceUrl: string, conversationId: string) =>
    `${base(serviceUrl)}v3/conversations/${encodeURIComponent(conversationId)}/activities`;

  return {
    appId: bot.appId,
    defaultServiceUrl: bot.serviceUrl,
    async createConversation(serviceUrl, userId, tenantId) {
      const result = (await call("createConversation", "POST", `${base(serviceUrl)}v3/conversations`, {
        isGroup: false,
        bot: { id: `28:${bot.appId}` },
        members: [{ id: userId }],
        tenantId,
        channelData: { tenant: { id: tenantId } },
      })) as { id?: string } | undefined;
      if (!result?.id) throw new BotConnectorError("createConversation", 502, "NoConversationId", "no id returned");
      return result.id;
    },
    async sendActivity(serviceUrl, conversationId, activity) {
      const result = (await call("sendActivity", "POST", conversationPath(serviceUrl, conversationId), activity)) as
        | { id?: string }
        | undefined;
      if (!result?.id) throw new BotConnectorError("sendActivity", 502, "NoActivityId", "no id returned");
      return result.id;
    },
    async updateActivity(serviceUrl, conversationId, activityId, activity) {
      await call(
        "updateActivity",
        "PUT",
        `${conversationPath(serviceUrl, conversationId)}/${encodeURIComponent(activityId)}`,
        { ...activity, id: activityId },
      );
    },
  };
}

function causeOf(error: unknown): string {
  const cause = (error as { cause?: { message?: string } }).cause?.message;
  return cause ? ` (${cause})` : "";
}
