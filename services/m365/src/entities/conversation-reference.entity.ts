import { defineEntity, p } from "@mikro-orm/core";

/**
 * The 1:1 chat of a person with Hearth's bot: what the Bot Connector needs to post to them proactively. Saved when
 * Teams tells the bot it was installed (gateway → m365.saveConversationReference) or when m365 creates the chat.
 */
export const ConversationReference = defineEntity({
  name: "ConversationReference",
  tableName: "conversation_reference",
  properties: {
    /** Entra object id of the person. */
    userId: p.uuid().primary(),
    tenantId: p.uuid(),
    conversationId: p.string().length(1024),
    serviceUrl: p.string().length(2048),
    botId: p.string().length(200).nullable(),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});
