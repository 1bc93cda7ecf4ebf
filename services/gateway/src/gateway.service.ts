import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type ActionContract, API_PREFIX, actionContracts, whoAmI } from "@hearth/contracts";
import {
  action,
  type Caller,
  createTokenVerifier,
  type HearthConfig,
  type HearthContext,
  KeySetUnavailableError,
  loadConfig,
  loadOrCreateDevIssuer,
  TokenRejectedError,
  TooManyRequestsError,
  UnauthorizedError,
  UnavailableError,
} from "@hearth/platform";
import type moleculer from "moleculer";
import ApiGateway from "moleculer-web";
import { docsAsset, docsPage } from "./docs-page.ts";
import { toEnvelope } from "./error-envelope.ts";
import { buildOpenApi } from "./openapi.ts";
import { CallerRateLimiter } from "./rate-limit.ts";
import { teamsBotRoute } from "./teams-bot.ts";

type Req = IncomingMessage & { $ctx?: HearthContext; $action?: { name: string } };
type Verifier = { verify(token: string): Promise<Caller> };
type GatewayThis = moleculer.Service & {
  server: import("node:http").Server;
  verifier?: Promise<Verifier>;
  limiter: CallerRateLimiter;
  openapi?: unknown;
  config: HearthConfig;
};

const DEV_ISSUER_PATH = "/api/dev-issuer";

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

/** `"GET /me": "gateway.whoAmI"` for every contract with a REST route: the gateway exposes nothing else. */
export function contractAliases(contracts: readonly ActionContract[]): Record<string, string> {
  return Object.fromEntries(contracts.filter((c) => c.rest).map((c) => [c.rest!, c.name]));
}

function bearerToken(req: Req): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw new UnauthorizedError("The Authorization header must be 'Bearer <token>'", "INVALID_TOKEN");
  return match[1];
}

async function createVerifier(service: GatewayThis): Promise<Verifier> {
  const { auth } = service.config;
  if (auth.kind === "entra") return createTokenVerifier(auth);
  const issuer = await loadOrCreateDevIssuer({ dir: auth.keyDir });
  const port = (service.server.address() as AddressInfo).port;
  return createTokenVerifier({
    jwksUrl: `http://127.0.0.1:${port}${DEV_ISSUER_PATH}/discovery/v2.0/keys`,
    issuer: issuer.issuer,
    audience: issuer.audience,
    tenantId: issuer.tenantId,
  });
}

async function readinessChecks(service: GatewayThis) {
  const checks: Array<{ name: string; ok: boolean; detail?: string }> = [];
  if (service.config.nats) {
    const connected = !!(service.broker.transit as { connected?: boolean } | undefined)?.connected;
    checks.push({ name: "nats", ok: connected, ...(connected ? {} : { detail: "not connected" }) });
  }
  const services = service.broker.registry.getServiceList({
    onlyAvailable: true,
    withActions: true,
  }) as unknown as Array<{
    name: string;
    actions: Record<string, unknown>;
  }>;
  const withDatabase = [...new Set(services.filter((s) => s.actions[`${s.name}.readiness`]).map((s) => s.name))];
  await Promise.all(
    withDatabase.map(async (name) => {
      try {
        const r = (await service.broker.call(`${name}.readiness`, {}, { timeout: 2000 })) as {
          pendingMigrations: string[];
        };
        const ok = r.pendingMigrations.length === 0;
        checks.push({
          name: `database:${name}`,
          ok,
          ...(ok ? {} : { detail: `pending migrations: ${r.pendingMigrations.join(", ")}` }),
        });
      } catch (error) {
        checks.push({ name: `database:${name}`, ok: false, detail: String((error as Error).message) });
      }
    }),
  );
  return checks.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The HTTP face of Hearth: /api/v1 routes for every contract with a REST route (and nothing else), Entra ID
 * bearer tokens, a rate limit per caller, one error envelope, OpenAPI and docs, health and readiness.
 */
export function createGatewayService(
  config: HearthConfig,
  contracts: readonly ActionContract[] = Object.values(actionContracts),
  /** cardActionHandlers: verb prefix → internal action for the bot's Action.Execute (default: the contracts' registry). */
  options: { cardActionHandlers?: Record<string, string> } = {},
): moleculer.ServiceSchema {
  const schema = {
    name: "gateway",
    mixins: [ApiGateway],
    settings: {
      port: config.http.port,
      ip: config.http.host,
      path: "/api",
      // moleculer-web formats these lines for every request even when the level drops them.
      logRequest: config.log.level === "debug" || config.log.level === "trace" ? "debug" : null,
      logResponse: config.log.level === "debug" || config.log.level === "trace" ? "debug" : null,
      log4XXResponses: false,
      routes: [
        {
          name: "v1",
          path: "/v1",
          mappingPolicy: "restrict",
          aliases: contractAliases(contracts),
          authentication: true,
          authorization: true,
          autoAliases: false,
          bodyParsers: { json: { strict: true, limit: config.http.bodyLimit }, urlencoded: false },
          onBeforeCall(ctx: HearthContext) {
            ctx.meta.viaGateway = true;
          },
        },
        teamsBotRoute(config.bot, config.http.bodyLimit, options.cardActionHandlers),
        {
          name: "operations",
          path: "/",
          mappingPolicy: "restrict",
          authentication: false,
          authorization: false,
          bodyParsers: { json: false, urlencoded: false },
          aliases: {
            "GET /health"(this: GatewayThis, _req: Req, res: ServerResponse) {
              sendJson(res, 200, { status: "alive" });
            },
            async "GET /ready"(this: GatewayThis, _req: Req, res: ServerResponse) {
              const checks = await readinessChecks(this);
              const ready = checks.every((c) => c.ok);
              sendJson(res, ready ? 200 : 503, { status: ready ? "ready" : "not-ready", checks });
            },
            "GET /openapi.json"(this: GatewayThis, _req: Req, res: ServerResponse) {
              this.openapi ??= buildOpenApi(contracts, this.config.http.publicUrl);
              sendJson(res, 200, this.openapi, { "Cache-Control": "public, max-age=60" });
            },
            "GET /docs"(_req: Req, res: ServerResponse) {
              res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
              res.end(docsPage());
            },
            "GET /docs/assets/:file"(req: Req & { $params: { file: string } }, res: ServerResponse) {
              const asset = docsAsset(req.$params.file);
              if (!asset)
                return sendJson(
                  res,
                  404,
                  toEnvelope(Object.assign(new Error("No such file"), { code: 404, type: "NOT_FOUND" })).body,
                );
              res.writeHead(200, { "Content-Type": asset.contentType, "Cache-Control": "public, max-age=86400" });
              res.end(asset.body);
            },
            async "GET /dev-issuer/discovery/v2.0/keys"(this: GatewayThis, _req: Req, res: ServerResponse) {
              if (this.config.auth.kind !== "development")
                return sendJson(
                  res,
                  404,
                  toEnvelope(Object.assign(new Error("Not found"), { code: 404, type: "NOT_FOUND" })).body,
                );
              const issuer = await loadOrCreateDevIssuer({ dir: this.config.auth.keyDir });
              sendJson(res, 200, issuer.jwks(), { "Cache-Control": "public, max-age=300" });
            },
          },
        },
      ],
      onError(this: GatewayThis, req: Req, res: ServerResponse, err: Error) {
        const envelope = toEnvelope(err, req.$ctx?.requestID ?? undefined);
        if (envelope.status === 500) this.logger.error("Request failed", { url: req.url, error: err });
        else if (envelope.status === 503)
          this.logger.warn("Request failed: unavailable", { url: req.url, reason: err.message });
        res.writeHead(envelope.status, {
          "Content-Type": "application/json; charset=utf-8",
          "Cache-Control": "no-store",
          ...envelope.headers,
        });
        res.end(JSON.stringify(envelope.body));
      },
    },
    actions: {
      whoAmI: action(whoAmI, (ctx) => ctx.meta.caller!),
    },
    methods: {
      async authenticate(this: GatewayThis, ctx: HearthContext, _route: unknown, req: Req) {
        const token = bearerToken(req);
        if (!token) throw new UnauthorizedError();
        this.verifier ??= createVerifier(this);
        try {
          const caller = await (await this.verifier).verify(token);
          ctx.meta.caller = caller;
          return caller;
        } catch (error) {
          if (error instanceof TokenRejectedError) {
            this.logger.info("Bearer token rejected", { reason: error.reason, url: req.url });
            throw new UnauthorizedError(`The bearer token was rejected (${error.reason})`, "INVALID_TOKEN");
          }
          if (error instanceof KeySetUnavailableError) {
            // Not the caller's fault: the tenant's signing keys cannot be fetched and none are known.
            this.logger.warn("Signing keys unavailable", { error: error.message });
            throw new UnavailableError("Sign-in cannot be checked right now; retry shortly", "SIGN_IN_UNAVAILABLE");
          }
          this.verifier = undefined;
          throw error;
        }
      },
      authorize(this: GatewayThis, ctx: HearthContext) {
        const caller = ctx.meta.caller;
        if (!caller) throw new UnauthorizedError();
        const retryAfter = this.limiter.take(`${caller.tenantId}:${caller.objectId}`);
        if (retryAfter > 0) throw new TooManyRequestsError(retryAfter);
      },
    },
    created(this: GatewayThis) {
      this.config = config;
      this.limiter = new CallerRateLimiter(config.http.rateLimitPerMinute);
    },
    started(this: GatewayThis) {
      // Node closes idle keep-alive sockets after 5 s; a client (or a load balancer, typically 60 s idle) reusing
      // one at that moment gets ECONNRESET. Keep them longer than the clients do.
      this.server.keepAliveTimeout = 65_000;
      this.server.headersTimeout = 66_000;
      const { port } = this.server.address() as AddressInfo;
      const base = config.http.port === 0 ? `http://127.0.0.1:${port}` : config.http.publicUrl;
      this.logger.info(`Hearth API on ${base}${API_PREFIX}, docs on ${base}/api/docs`);
    },
  };
  // Methods and hooks are typed with the gateway's own `this`; Moleculer's schema type cannot express that.
  return schema as unknown as moleculer.ServiceSchema;
}

export default createGatewayService(loadConfig());
