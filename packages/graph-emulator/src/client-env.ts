import type { GraphEmulator } from "./server.ts";

/**
 * The environment a Hearth process needs to use this emulator as its Microsoft 365 tenant: the m365 service's
 * credentials of an app registration (the first one by default; it is also the Teams bot) and the emulator's CA, which Node reads only at
 * process start — so pass it to a child process, not to the current one.
 */
export function m365ClientEnv(emulator: GraphEmulator, clientId?: string): Record<string, string> {
  const app = emulator.control.app(clientId);
  return {
    NODE_EXTRA_CA_CERTS: emulator.caCertPath,
    M365_TENANT_ID: emulator.tenantId,
    M365_CLIENT_ID: app.clientId,
    M365_CLIENT_SECRET: app.clientSecret,
    M365_AUTHORITY_HOST: emulator.url,
    M365_GRAPH_URL: emulator.url,
    M365_TEAMS_APP_ID: emulator.control.teamsApp(clientId).id,
    // The same app registration is the Teams bot (single-tenant): the gateway checks inbound tokens against the
    // emulator's Bot Framework issuer, m365 posts through its Bot Connector.
    BOT_APP_ID: app.clientId,
    BOT_APP_PASSWORD: app.clientSecret,
    BOT_TENANT_ID: emulator.tenantId,
    BOT_OPENID_URL: emulator.bot.openIdMetadataUrl,
    BOT_SERVICE_URL: emulator.bot.serviceUrl,
  };
}
