// The Bot Framework part of the control API over HTTPS (below /_emulator/bot), for other processes: read what bots
// posted, and act as Teams towards a bot (sign a token, post an Action.Execute or an installationUpdate to it).
import type { BotFramework, DeliverOptions } from "./bot-framework.ts";

export type BotControlResponse = { status: number; body?: unknown };

function deliverOptions(input: Record<string, unknown>): DeliverOptions {
  return {
    ...(typeof input.botAppId === "string" ? { botAppId: input.botAppId } : {}),
    ...(input.token === null || typeof input.token === "string" ? { token: input.token as string | null } : {}),
    ...(typeof input.tokenOptions === "object" && input.tokenOptions !== null
      ? { tokenOptions: input.tokenOptions as DeliverOptions["tokenOptions"] }
      : {}),
  };
}

function requireString(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== "string" || value.length === 0) throw new Error(`${name} is required`);
  return value;
}

/** Paths below /_emulator/bot; undefined when the path is not one of them. */
export async function handleBotControl(
  bot: BotFramework,
  method: string,
  path: string,
  body: unknown,
): Promise<BotControlResponse | undefined> {
  if (path !== "/bot" && !path.startsWith("/bot/")) return undefined;
  const input = (body ?? {}) as Record<string, unknown>;
  const rest = path.slice("/bot".length);
  try {
    if (method === "GET" && (rest === "" || rest === "/")) {
      return {
        status: 200,
        body: { serviceUrl: bot.serviceUrl, openIdMetadataUrl: bot.openIdMetadataUrl, issuer: bot.issuer },
      };
    }
    if (method === "GET" && rest === "/conversations") return { status: 200, body: bot.conversations() };
    const conversation = /^\/conversations\/([^/]+)$/.exec(rest);
    if (method === "GET" && conversation) {
      const found = bot.conversation(decodeURIComponent(conversation[1]!));
      return found ? { status: 200, body: found } : { status: 404, body: { error: "no such conversation" } };
    }
    const userConversation = /^\/users\/([^/]+)\/conversation$/.exec(rest);
    if (method === "GET" && userConversation) {
      const found = bot.conversationWith(decodeURIComponent(userConversation[1]!));
      return found ? { status: 200, body: found } : { status: 404, body: { error: "no conversation with that user" } };
    }
    if (method === "POST" && rest === "/tokens") {
      const token = await bot.signInboundToken({
        audience: requireString(input, "audience"),
        ...(typeof input.serviceUrl === "string" ? { serviceUrl: input.serviceUrl } : {}),
        ...(typeof input.issuer === "string" ? { issuer: input.issuer } : {}),
        ...(typeof input.expiresInSeconds === "number" ? { expiresInSeconds: input.expiresInSeconds } : {}),
      });
      return { status: 200, body: { token } };
    }
    if (method === "POST" && rest === "/card-actions") {
      const result = await bot.invokeCardAction(
        requireString(input, "endpoint"),
        {
          user: requireString(input, "user"),
          verb: requireString(input, "verb"),
          ...(typeof input.data === "object" && input.data !== null
            ? { data: input.data as Record<string, unknown> }
            : {}),
          ...(typeof input.replyToId === "string" ? { replyToId: input.replyToId } : {}),
        },
        deliverOptions(input),
      );
      return { status: 200, body: result };
    }
    if (method === "POST" && rest === "/installation-updates") {
      const action = input.action === "remove" ? "remove" : "add";
      const result = await bot.installationUpdate(
        requireString(input, "endpoint"),
        requireString(input, "user"),
        action,
        deliverOptions(input),
      );
      return { status: 200, body: result };
    }
    if (method === "POST" && rest === "/activities") {
      const activity = input.activity;
      if (typeof activity !== "object" || activity === null) throw new Error("activity is required");
      const result = await bot.deliver(
        requireString(input, "endpoint"),
        activity as Record<string, unknown>,
        deliverOptions(input),
      );
      return { status: 200, body: result };
    }
    return { status: 404, body: { error: `no control route ${method} /_emulator${path}` } };
  } catch (error) {
    return { status: 400, body: { error: (error as Error).message } };
  }
}
