// Proactive Adaptive Cards in a person's 1:1 chat with Hearth's bot: the conversation references m365 keeps, and
// sendBotCard — reuse the known chat, else create it (installing the Teams app through Graph first when Teams says
// the bot is not in the person's roster), then post or update the card.
import { setTimeout as sleep } from "node:timers/promises";
import {
  type ParamsOf,
  type ResultOf,
  saveConversationReference,
  sendBotCard,
  type TConversationReference,
} from "@hearth/contracts";
import { action, type BotConfig, type DatabaseThis, loadBotConfig } from "@hearth/platform";
import moleculer from "moleculer";
import {
  type Activity,
  type BotConnector,
  BotConnectorError,
  BotNotConfiguredError,
  createBotConnector,
  createBotCredential,
  isTrustedServiceUrl,
  UntrustedServiceUrlError,
} from "./bot-connector.ts";
import { BudgetStore } from "./budget.ts";
import type { M365Config } from "./config.ts";
import { forgetInstallation, recordInstallations } from "./feed-sends.ts";
import type { GraphApi } from "./graph-client.ts";
import { installAppForUser } from "./messaging-operations.ts";

const { MoleculerClientError, MoleculerError } = moleculer.Errors;

/** Teams' codes for "this chat is gone for the bot": forget the reference and start a new chat. */
const CHAT_GONE = new Set(["BotNotInConversationRoster", "ConversationNotFound", "ConversationBlockedByUser"]);
/** An installation through Graph reaches the Bot Connector with a delay (m365.md §1): a few tries, a second apart. */
const ROSTER_ATTEMPTS = 4;

export type ConversationReferences = {
  get(userId: string): Promise<TConversationReference | undefined>;
  save(reference: TConversationReference): Promise<void>;
  remove(userId: string): Promise<boolean>;
};

type Execute = (sql: string, params: unknown[]) => Promise<unknown>;

export function conversationReferences(execute: Execute, schema: string): ConversationReferences {
  const table = `"${schema}".conversation_reference`;
  return {
    async get(userId) {
      const rows = (await execute(
        `select user_id as "userId", tenant_id as "tenantId", conversation_id as "conversationId",
                service_url as "serviceUrl", bot_id as "botId"
         from ${table} where user_id = ?`,
        [userId],
      )) as Array<TConversationReference & { botId: string | null }>;
      const row = rows[0];
      if (!row) return undefined;
      const { botId, ...rest } = row;
      return { ...rest, ...(botId ? { botId } : {}) };
    },
    async save(reference) {
      await execute(
        `insert into ${table} (user_id, tenant_id, conversation_id, service_url, bot_id, updated_at)
         values (?, ?, ?, ?, ?, clock_timestamp())
         on conflict (user_id) do update set tenant_id = excluded.tenant_id, conversation_id = excluded.conversation_id,
           service_url = excluded.service_url, bot_id = excluded.bot_id, updated_at = excluded.updated_at`,
        [reference.userId, reference.tenantId, reference.conversationId, reference.serviceUrl, reference.botId ?? null],
      );
      // A chat with the bot means the app is installed for the person: the activity feed reaches them.
      await recordInstallations(execute, schema, [reference.userId.toLowerCase()], "bot");
    },
    async remove(userId) {
      const result = (await execute(`delete from ${table} where user_id = ? returning user_id`, [userId])) as unknown[];
      // Removed (uninstalled, or the chat is gone): the next feed installs the app again first.
      await forgetInstallation(execute, schema, userId.toLowerCase());
      return result.length > 0;
    },
  };
}

export type SendBotCardDeps = {
  connector: BotConnector;
  references: ConversationReferences;
  tenantId: string;
  /** Installs Hearth's Teams app for the person through Graph. */
  install(userId: string): Promise<"installed" | "alreadyInstalled">;
  log?: (message: string, data: Record<string, unknown>) => void;
  pauseMs?: number;
};

type SendParams = ParamsOf<typeof sendBotCard>;

export function cardActivity(card: SendParams["card"], summary?: string): Activity {
  return {
    type: "message",
    ...(summary ? { summary } : {}),
    attachments: [{ contentType: "application/vnd.microsoft.card.adaptive", content: card }],
  };
}

function isChatGone(error: unknown): boolean {
  return error instanceof BotConnectorError && CHAT_GONE.has(error.connectorCode);
}

export class ConversationUnknownError extends MoleculerClientError {
  constructor(userId: string) {
    super(`No chat with ${userId} is known, so there is no card to update`, 404, "M365_CONVERSATION_NOT_FOUND", {
      fields: [{ field: "updateActivityId", message: "no conversation with this person is known" }],
    });
  }
}

/** The person's 1:1 chat with the bot: created (after installing the app, if Teams says it is missing) and saved. */
async function openConversation(
  deps: SendBotCardDeps,
  userId: string,
): Promise<{ reference: TConversationReference; installed: boolean }> {
  const serviceUrl = deps.connector.defaultServiceUrl;
  let installed = false;
  for (let attempt = 1; ; attempt++) {
    try {
      const conversationId = await deps.connector.createConversation(serviceUrl, userId, deps.tenantId);
      const reference: TConversationReference = {
        userId,
        tenantId: deps.tenantId,
        conversationId,
        serviceUrl,
        botId: `28:${deps.connector.appId}`,
      };
      await deps.references.save(reference);
      return { reference, installed };
    } catch (error) {
      const notInRoster = error instanceof BotConnectorError && error.connectorCode === "BotNotInConversationRoster";
      if (!notInRoster || attempt >= ROSTER_ATTEMPTS) throw error;
      if (attempt === 1) {
        const status = await deps.install(userId);
        installed = status === "installed";
        deps.log?.("Teams app installed for a bot card", { userId, status });
      } else {
        await sleep(deps.pauseMs ?? 1000);
      }
    }
  }
}

export async function sendCard(
  deps: SendBotCardDeps,
  params: ParamsOf<typeof sendBotCard>,
): Promise<ResultOf<typeof sendBotCard>> {
  const activity = cardActivity(params.card, params.summary);
  const known = await deps.references.get(params.userId);
  if (params.updateActivityId) {
    if (!known) throw new ConversationUnknownError(params.userId);
    await deps.connector.updateActivity(known.serviceUrl, known.conversationId, params.updateActivityId, activity);
    return {
      conversationId: known.conversationId,
      activityId: params.updateActivityId,
      installed: false,
      updated: true,
    };
  }
  if (known) {
    try {
      const activityId = await deps.connector.sendActivity(known.serviceUrl, known.conversationId, activity);
      return { conversationId: known.conversationId, activityId, installed: false, updated: false };
    } catch (error) {
      if (!isChatGone(error)) throw error;
      // Uninstalled, or the chat was removed: the stored reference is stale.
      await deps.references.remove(params.userId);
      deps.log?.("Stale conversation reference dropped", { userId: params.userId });
    }
  }
  const { reference, installed } = await openConversation(deps, params.userId);
  const activityId = await deps.connector.sendActivity(reference.serviceUrl, reference.conversationId, activity);
  return { conversationId: reference.conversationId, activityId, installed, updated: false };
}

type BotThis = DatabaseThis & {
  m365: M365Config;
  graphApi(): GraphApi;
  botConfig?: BotConfig | null;
  connector?: BotConnector;
  botConnector(): BotConnector;
  conversationReferences(): ConversationReferences;
};

/** The actions m365 adds to its schema for the bot (spread into `actions`). */
export const botCardActions = {
  sendBotCard: action(sendBotCard, async function (this: BotThis, ctx) {
    const connector = this.botConnector();
    const bot = this.botConfig!;
    return sendCard(
      {
        connector,
        references: this.conversationReferences(),
        tenantId: bot.tenantId,
        install: async (userId) => {
          const teamsAppId = this.m365.teamsAppId;
          if (!teamsAppId)
            throw new MoleculerError(
              "Hearth's Teams app is not installed for this person and M365_TEAMS_APP_ID (its org catalog id) is not set",
              503,
              "M365_TEAMS_APP_NOT_CONFIGURED",
            );
          const status = await installAppForUser(this.graphApi(), userId, teamsAppId);
          await recordInstallations(
            (sql, params) => this.em().getConnection().execute(sql, params),
            this.database.schema,
            [userId.toLowerCase()],
            "graph",
          );
          return status;
        },
        log: (message, data) => this.logger.info(message, data),
      },
      ctx.params,
    );
  }),
  saveConversationReference: action(saveConversationReference, async function (this: BotThis, ctx) {
    const { reference, removed } = ctx.params;
    const bot = this.botConfig ?? loadBotConfig() ?? undefined;
    if (bot && reference.tenantId.toLowerCase() !== bot.tenantId.toLowerCase()) {
      throw new MoleculerClientError("The conversation belongs to another tenant", 422, "M365_OTHER_TENANT", {
        fields: [{ field: "reference.tenantId", message: "not the bot's tenant" }],
      });
    }
    const references = this.conversationReferences();
    if (removed) return { saved: await references.remove(reference.userId) };
    if (bot && !isTrustedServiceUrl(reference.serviceUrl, bot.serviceUrl))
      throw new UntrustedServiceUrlError(reference.serviceUrl);
    await references.save(reference);
    return { saved: true };
  }),
};

export const botCardMethods = {
  /** Built on first use, like the Graph client: without BOT_* the bot actions answer 503. */
  botConnector(this: BotThis): BotConnector {
    if (this.connector) return this.connector;
    this.botConfig ??= loadBotConfig() ?? null;
    const bot = this.botConfig;
    if (!bot?.password) throw new BotNotConfiguredError();
    const budgets = new BudgetStore({
      tenant: bot.tenantId,
      shapes: this.m365.shapes,
      execute: (sql, params) => this.em().getConnection().execute(sql, params) as never,
    });
    this.connector = createBotConnector({
      bot,
      credential: createBotCredential(bot, this.m365.authorityHost),
      budgets,
      maxAttempts: this.m365.maxAttempts,
    });
    return this.connector;
  },
  conversationReferences(this: BotThis): ConversationReferences {
    return conversationReferences(
      (sql, params) => this.em().getConnection().execute(sql, params),
      this.database.schema,
    );
  },
};
