// The Teams side: proactive bot cards (m365 owns the Bot Connector and the conversation references) and the
// Adaptive Card Action.Execute invokes that the gateway's bot endpoint routes by verb to the service owning them.
import { z } from "zod";
import { defineAction } from "./define.ts";

/** An Adaptive Card (JSON). Checked for its shape only; Teams renders cards up to version 1.5 with Action.Execute. */
export const ZAdaptiveCard = z.looseObject({
  type: z.literal("AdaptiveCard"),
  version: z.string().regex(/^1\.\d+$/, "an Adaptive Card version like 1.5"),
  body: z.array(z.unknown()).optional(),
  actions: z.array(z.unknown()).optional(),
});
export type TAdaptiveCard = z.infer<typeof ZAdaptiveCard>;

/** Bot Connector ids are opaque strings (a 1:1 chat is "a:1…", an activity id "1700000000000" or a GUID). */
const ZConnectorId = z.string().min(1).max(1024);

/** What a bot must remember to message a person proactively (saved on install, or when m365 creates the chat). */
export const ZConversationReference = z.object({
  userId: z.guid().describe("Entra object id of the person (the Teams user's aadObjectId)"),
  tenantId: z.guid(),
  conversationId: ZConnectorId,
  serviceUrl: z.url().describe("The Bot Connector base URL of the person's region, as Teams sent it"),
  botId: z.string().min(1).max(200).optional().describe("The bot's channel account id (28:<app id>)"),
});
export type TConversationReference = z.infer<typeof ZConversationReference>;

export const sendBotCard = defineAction({
  name: "m365.sendBotCard",
  summary:
    "Posts an Adaptive Card to a person's 1:1 chat with Hearth's bot, or replaces a card sent before " +
    "(updateActivityId). Installs the Teams app for the person through Graph when it is missing and creates the " +
    "conversation when none is known.",
  access: "internal",
  // Sending twice posts two cards: callers deduplicate (notifications keep a dedupe key). Updating is safe to repeat.
  idempotent: false,
  params: z.object({
    userId: z.guid().describe("Entra object id of the recipient"),
    card: ZAdaptiveCard,
    summary: z.string().max(300).optional().describe("Text of the chat preview and the notification toast"),
    updateActivityId: ZConnectorId.optional().describe("Replace this earlier card instead of posting a new one"),
  }),
  result: z.object({
    conversationId: ZConnectorId,
    activityId: ZConnectorId,
    /** The Teams app was installed for the person by this call. */
    installed: z.boolean(),
    updated: z.boolean(),
  }),
});

export const saveConversationReference = defineAction({
  name: "m365.saveConversationReference",
  summary:
    "Remembers (or, removed, forgets) the 1:1 conversation of a person with the bot; the gateway calls it on the " +
    "installationUpdate and conversationUpdate activities Teams sends",
  access: "internal",
  idempotent: true,
  params: z.object({ reference: ZConversationReference, removed: z.boolean().default(false) }),
  result: z.object({ saved: z.boolean() }),
});

/** The person who pressed the button, as Teams names them in the invoke. */
export const ZCardActor = z.object({
  aadObjectId: z.guid(),
  tenantId: z.guid(),
  name: z.string().max(256).optional(),
});

/** An Action.Execute on a Hearth card: the gateway passes it to the service owning the verb's prefix. */
export const ZCardActionParams = z.object({
  verb: z
    .string()
    .regex(/^[a-z][a-zA-Z0-9-]*\.[a-zA-Z][a-zA-Z0-9.]*$/, "a verb like onboarding.completeTask")
    .max(200),
  data: z.record(z.string(), z.unknown()).default({}),
  user: ZCardActor,
  /** The card's chat and message, when Teams tells (it does for cards posted by the bot). */
  conversationId: ZConnectorId.optional(),
  activityId: ZConnectorId.optional(),
  /** The Teams client's locale (the activity's `locale`, e.g. de-DE): the language of the card that answers. */
  locale: z.string().max(35).optional(),
});
export type TCardActionParams = z.infer<typeof ZCardActionParams>;

/** The card that replaces the one acted on (for everyone in a 1:1 chat, that is the person). */
export const ZCardActionResult = z.object({ card: ZAdaptiveCard });
export type TCardActionResult = z.infer<typeof ZCardActionResult>;

/**
 * Every service that owns card verbs implements one internal action with this contract, e.g.
 * `defineCardActionHandler("onboarding.handleCardAction", "…")`, and is listed in CARD_ACTION_HANDLERS.
 * A refusal the person should read (a task already done, a closed pulse) is a normal result: a card saying so.
 */
export function defineCardActionHandler<N extends string>(name: N, summary: string) {
  return defineAction({
    name,
    summary,
    access: "internal",
    idempotent: false,
    params: ZCardActionParams,
    result: ZCardActionResult,
  });
}

/** Verb prefix (up to the first dot) → the internal action that handles that service's Action.Execute verbs. */
export const CARD_ACTION_HANDLERS: Readonly<Record<string, string>> = Object.freeze({
  onboarding: "onboarding.handleCardAction",
  pulse: "pulse.handleCardAction",
  "team-events": "team-events.handleCardAction",
  "knowledge-sessions": "knowledge-sessions.handleCardAction",
  "interest-groups": "interest-groups.handleCardAction",
});

/** The handler action for a verb ("onboarding.completeTask" → "onboarding.handleCardAction"), if any. */
export function cardActionHandlerFor(
  verb: string,
  handlers: Readonly<Record<string, string>> = CARD_ACTION_HANDLERS,
): string | undefined {
  const prefix = verb.split(".", 1)[0] ?? "";
  return Object.hasOwn(handlers, prefix) ? handlers[prefix] : undefined;
}
