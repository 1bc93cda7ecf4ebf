import path from "node:path";
import { z } from "zod";

/** Repository root: two levels above packages/platform/src. */
export const REPO_ROOT = path.resolve(import.meta.dirname, "../../..");

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === "" ? undefined : v));

/** Every environment variable Hearth reads; README's configuration table mirrors this list. */
const ZEnv = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  PUBLIC_URL: optionalString,
  DATABASE_URL: optionalString,
  DATA_DIR: z.string().default(path.join(REPO_ROOT, ".data")),
  NATS_URL: optionalString,
  NAMESPACE: z.string().default("hearth"),
  EVENTS_STREAM: z.string().default("HEARTH_EVENTS"),
  EVENTS_SUBJECT_PREFIX: z.string().default("hearth.events"),
  REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  LOG_FORMAT: z.enum(["json", "pretty"]).optional(),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(3030),
  METRICS: z.enum(["on", "off"]).default("on"),
  TRACING_ZIPKIN_URL: optionalString,
  AUTH_ISSUER: optionalString,
  AUTH_AUDIENCE: optionalString,
  AUTH_TENANT_ID: optionalString,
  AUTH_JWKS_URL: optionalString,
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(600),
  BODY_LIMIT: z.string().default("256kb"),
  OUTBOX_POLL_MS: z.coerce.number().int().min(10).default(250),
  EVENT_MAX_ATTEMPTS: z.coerce.number().int().min(1).default(5),
  EVENT_RETRY_BASE_MS: z.coerce.number().int().min(1).default(1000),
  /** JetStream AckWait: how long an unacknowledged delivery waits before it is redelivered. */
  EVENT_ACK_WAIT_MS: z.coerce.number().int().min(1000).default(30_000),
  /** How long a relay's claim on outbox rows lasts; a crashed relay's rows are taken over after it. */
  OUTBOX_CLAIM_LEASE_MS: z.coerce.number().int().min(1000).default(30_000),
  // on: seed on the first embedded start; always: on any database (the CLI's seed command); off: never.
  SEED_DEMO: z.enum(["on", "off", "always"]).default("on"),
});

export type HearthConfig = ReturnType<typeof loadConfig>;

/**
 * Hearth's Teams bot (an Azure Bot, single-tenant): the gateway checks the tokens Teams sends to /api/messages
 * against the Bot Framework's issuer; the m365 service signs in as the bot to post cards through the Bot Connector.
 */
const ZBotEnv = z.object({
  BOT_APP_ID: optionalString,
  BOT_APP_PASSWORD: optionalString,
  BOT_TENANT_ID: optionalString,
  BOT_OPENID_URL: z.url().default("https://login.botframework.com/v1/.well-known/openidconfiguration"),
  BOT_TOKEN_ISSUER: z.string().default("https://api.botframework.com"),
  BOT_SERVICE_URL: z.url().default("https://smba.trafficmanager.net/teams/"),
});

export type BotConfig = {
  appId: string;
  /** Only the m365 service needs it (to call the Bot Connector); the gateway only checks inbound tokens. */
  password?: string;
  tenantId: string;
  openIdMetadataUrl: string;
  tokenIssuer: string;
  /** The Bot Connector of the tenant's region, for conversations no activity has told us about yet. */
  serviceUrl: string;
};

/** The bot's settings, or undefined when BOT_APP_ID is not set (the bot endpoint then answers 503). */
export function loadBotConfig(env: Record<string, string | undefined> = process.env): BotConfig | undefined {
  const parsed = ZBotEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  if (!e.BOT_APP_ID) {
    if (e.BOT_APP_PASSWORD || e.BOT_TENANT_ID)
      throw new ConfigError("Invalid configuration: BOT_APP_PASSWORD and BOT_TENANT_ID need BOT_APP_ID");
    return undefined;
  }
  if (!e.BOT_TENANT_ID)
    throw new ConfigError("Invalid configuration: BOT_TENANT_ID is required with BOT_APP_ID (bots are single-tenant)");
  return {
    appId: e.BOT_APP_ID,
    ...(e.BOT_APP_PASSWORD ? { password: e.BOT_APP_PASSWORD } : {}),
    tenantId: e.BOT_TENANT_ID,
    openIdMetadataUrl: e.BOT_OPENID_URL,
    tokenIssuer: e.BOT_TOKEN_ISSUER,
    serviceUrl: e.BOT_SERVICE_URL.endsWith("/") ? e.BOT_SERVICE_URL : `${e.BOT_SERVICE_URL}/`,
  };
}

export class ConfigError extends Error {}

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  const parsed = ZEnv.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new ConfigError(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  const authVars = [e.AUTH_ISSUER, e.AUTH_AUDIENCE, e.AUTH_TENANT_ID, e.AUTH_JWKS_URL];
  const authConfigured = authVars.filter(Boolean).length;
  if (authConfigured > 0 && authConfigured < authVars.length) {
    throw new ConfigError(
      "Invalid configuration: AUTH_ISSUER, AUTH_AUDIENCE, AUTH_TENANT_ID and AUTH_JWKS_URL go together",
    );
  }
  if (e.NODE_ENV === "production" && authConfigured === 0) {
    throw new ConfigError("Invalid configuration: production needs AUTH_* (the development issuer is for local use)");
  }
  return {
    env: e.NODE_ENV,
    http: {
      host: e.HOST,
      port: e.PORT,
      publicUrl: e.PUBLIC_URL ?? `http://${e.HOST === "0.0.0.0" ? "localhost" : e.HOST}:${e.PORT}`,
      bodyLimit: e.BODY_LIMIT,
      rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    },
    database: e.DATABASE_URL
      ? ({ kind: "postgresql", url: e.DATABASE_URL } as const)
      : ({ kind: "embedded", dir: path.join(e.DATA_DIR, "pglite") } as const),
    dataDir: e.DATA_DIR,
    nats: e.NATS_URL ? { url: e.NATS_URL } : undefined,
    namespace: e.NAMESPACE,
    events: {
      stream: e.EVENTS_STREAM,
      subjectPrefix: e.EVENTS_SUBJECT_PREFIX,
      pollMs: e.OUTBOX_POLL_MS,
      maxAttempts: e.EVENT_MAX_ATTEMPTS,
      retryBaseMs: e.EVENT_RETRY_BASE_MS,
      ackWaitMs: e.EVENT_ACK_WAIT_MS,
      claimLeaseMs: e.OUTBOX_CLAIM_LEASE_MS,
    },
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? (process.stdout.isTTY ? "pretty" : "json") },
    metrics: e.METRICS === "on" ? { port: e.METRICS_PORT } : undefined,
    tracing: { zipkinUrl: e.TRACING_ZIPKIN_URL },
    auth:
      authConfigured === 0
        ? ({ kind: "development", keyDir: path.join(e.DATA_DIR, "dev-issuer") } as const)
        : ({
            kind: "entra",
            issuer: e.AUTH_ISSUER!,
            audience: e.AUTH_AUDIENCE!,
            tenantId: e.AUTH_TENANT_ID!,
            jwksUrl: e.AUTH_JWKS_URL!,
          } as const),
    seedDemo: e.SEED_DEMO,
    bot: loadBotConfig(env),
  };
}
