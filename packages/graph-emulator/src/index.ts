export {
  BOT_FRAMEWORK_ISSUER,
  type BotConversation,
  type BotFramework,
  type CardActionInput,
  type ConnectorActivity,
  type DeliveryResult,
  type InboundTokenOptions,
  MAX_ACTIVITY_BYTES,
} from "./bot/bot-framework.ts";
export { loadOrCreateCertificates, writeCaCertificate } from "./certificates.ts";
export { m365ClientEnv } from "./client-env.ts";
export { checkAgainstContract, loadContract } from "./contract.ts";
export type { AppSummary, EmulatorControl, HireOptions } from "./control.ts";
export { BOT_FRAMEWORK_RESOURCE, GRAPH_RESOURCE, openIdConfiguration, TOKEN_LIFETIME_SECONDS } from "./entra/entra.ts";
export { type UserTokenOptions, userTokenIssuer } from "./entra/user-tokens.ts";
export { MAX_BATCH_REQUESTS } from "./graph/batch.ts";
export { DELTA_TOKEN_LIFETIME_MS } from "./graph/user-delta.ts";
export { DEFAULT_USER_PROPERTIES } from "./graph/user-shape.ts";
export { type GraphEmulator, type GraphEmulatorOptions, startGraphEmulator } from "./server.ts";
export type { CalendarEvent, EventAttendee } from "./tenant/calendar.ts";
export { OFFICES } from "./tenant/reference-data.ts";
export { DEFAULT_PERMISSIONS, type SeedOptions, seedTenant } from "./tenant/seed.ts";
export type { CatalogApp, DeliveredActivity, SentMessage } from "./tenant/teamwork.ts";
export { type Mailbox, Tenant, type UserChanges, type UserData } from "./tenant/tenant.ts";
export { MICROSOFT_LIMITS, Throttler, type ThrottlingLimits, type ThrottlingOptions } from "./throttling.ts";
