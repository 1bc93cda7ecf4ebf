// startGraphEmulator: one HTTPS server with four surfaces — Entra ID (/{tenant}/…), Graph (/v1.0/…), the Bot
// Framework (Bot Connector under /smba/teams/, its token issuer under /botframework/) and the control API (/_emulator/…).
import fs from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { type BotFramework, createBotFramework, loadBotFrameworkKey } from "./bot/bot-framework.ts";
import { handleBotControl } from "./bot/control.ts";
import { loadOrCreateCertificates } from "./certificates.ts";
import { createControl, type EmulatorControl, handleControl } from "./control.ts";
import { handleEntra } from "./entra/entra.ts";
import { loadOrCreateSigningKey } from "./entra/signing-key.ts";
import { signUserToken, type UserTokenOptions } from "./entra/user-tokens.ts";
import { createGraphDispatcher, JSON_CONTENT_TYPE, newRequestId } from "./graph/dispatch.ts";
import { errorBody } from "./graph/errors.ts";
import { graphRoutes } from "./graph/routes.ts";
import type { EmulatorState } from "./graph/types.ts";
import { seededRandom } from "./tenant/random.ts";
import { PersonFactory, type SeedOptions, seedTenant } from "./tenant/seed.ts";
import { Tenant } from "./tenant/tenant.ts";
import { type LimitClass, Throttler, type ThrottlingOptions } from "./throttling.ts";

export type GraphEmulatorOptions = {
  /** 0 (default): any free port. */
  port?: number;
  /** Where the CA, server certificate and token-signing key are kept (reused across starts). Default: a temp dir removed on close. */
  dataDir?: string;
  tenant: SeedOptions | Tenant;
  /** 100: a 10 s throttling window lasts 100 ms, and Retry-After is scaled the same way. Default 1. */
  timeScale?: number;
  /** Default: on, with Microsoft's published limits. */
  throttling?: ThrottlingOptions;
  /** Default page size of users/delta (clients may ask for another with Prefer: odata.maxpagesize). Default 100. */
  deltaPageSize?: number;
  /** Simulated service time per limit class in ms, e.g. { outlook: 50 }, so concurrency limits can be hit. Default none. */
  latencyMs?: Partial<Record<LimitClass, number>>;
};

export type GraphEmulator = {
  /** https://127.0.0.1:<port> — the authority host for @azure/identity and the Graph base URL (add /v1.0). */
  url: string;
  port: number;
  /** PEM of the emulator's CA, for NODE_EXTRA_CA_CERTS. */
  caCertPath: string;
  caPem: string;
  tenantId: string;
  control: EmulatorControl;
  /** The Bot Framework side: Bot Connector service URL, the issuer of tokens sent to bots, conversations. */
  bot: BotFramework;
  /** An Entra v2.0 user access token for Hearth's API (issuer `${url}/${tenantId}/v2.0`, this tenant's JWKS). */
  userToken(options: UserTokenOptions): Promise<string>;
  close(): Promise<void>;
};

const MAX_BODY_BYTES = 4 * 1024 * 1024;

export async function startGraphEmulator(options: GraphEmulatorOptions): Promise<GraphEmulator> {
  const temporaryDir = options.dataDir ? undefined : await fs.mkdtemp(path.join(os.tmpdir(), "graph-emulator-"));
  const dataDir = options.dataDir ?? temporaryDir!;
  const [certificates, key, botKey] = await Promise.all([
    loadOrCreateCertificates(dataDir),
    loadOrCreateSigningKey(dataDir),
    loadBotFrameworkKey(dataDir),
  ]);
  const tenant = options.tenant instanceof Tenant ? options.tenant : seedTenant(options.tenant);
  const throttler = new Throttler(options.throttling, options.timeScale ?? 1);
  const state: EmulatorState = {
    tenant,
    throttler,
    baseUrl: "",
    deltaPageSize: options.deltaPageSize ?? 100,
    latencyMs: options.latencyMs ?? {},
  };
  const dispatch = createGraphDispatcher(state, key, graphRoutes);
  const botFramework = createBotFramework(tenant, key, botKey, () => state.baseUrl);
  const control = createControl(
    tenant,
    new PersonFactory(tenant, seededRandom(`${tenant.tenantId}:hires`), new Date()),
    throttler,
  );

  const server = https.createServer(
    { key: certificates.keyPem, cert: `${certificates.certPem.trim()}\n${certificates.caPem.trim()}\n` },
    (request, response) => {
      handle(request, response).catch((error) => {
        console.error("graph-emulator: request failed", error);
        if (!response.headersSent) response.writeHead(500);
        response.end();
      });
    },
  );

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", state.baseUrl);
    const rawBody = await readBody(request);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers))
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;

    if (url.pathname.startsWith("/v1.0/") || url.pathname === "/v1.0") {
      const requestId = newRequestId();
      let body: unknown;
      if (rawBody.length > 0) {
        try {
          body = JSON.parse(rawBody);
        } catch {
          const clientRequestId = headers["client-request-id"] ?? requestId;
          return send(
            response,
            400,
            { "request-id": requestId, "client-request-id": clientRequestId, "content-type": JSON_CONTENT_TYPE },
            errorBody("BadRequest", "Unable to read JSON request payload.", requestId, clientRequestId),
          );
        }
      }
      const path_ = url.pathname.slice("/v1.0".length).split("/").map(safeDecode).join("/") || "/";
      const result = await dispatch({
        method: request.method ?? "GET",
        path: path_,
        query: url.searchParams,
        headers,
        body,
        requestId,
      });
      return send(response, result.status, result.headers, result.body);
    }
    if (url.pathname.startsWith("/_emulator/")) {
      let body: unknown;
      try {
        body = rawBody ? JSON.parse(rawBody) : undefined;
      } catch {
        return send(response, 400, { "content-type": "application/json" }, { error: "invalid JSON" });
      }
      const botControl = await handleBotControl(
        botFramework.bot,
        request.method ?? "GET",
        url.pathname.slice("/_emulator".length),
        body,
      );
      if (botControl) return send(response, botControl.status, { "content-type": "application/json" }, botControl.body);
      const tokenMatch = /^\/_emulator\/users\/([^/]+)\/token$/.exec(url.pathname);
      if (request.method === "POST" && tokenMatch) {
        const input = (body ?? {}) as Omit<UserTokenOptions, "user">;
        if (typeof input.audience !== "string") {
          return send(response, 400, { "content-type": "application/json" }, { error: "audience is required" });
        }
        try {
          const token = await signUserToken(tenant, key, state.baseUrl, {
            ...input,
            user: decodeURIComponent(tokenMatch[1]!),
          });
          return send(response, 200, { "content-type": "application/json" }, { access_token: token });
        } catch (error) {
          return send(response, 400, { "content-type": "application/json" }, { error: (error as Error).message });
        }
      }
      const result = handleControl(
        control,
        request.method ?? "GET",
        url.pathname.slice("/_emulator".length),
        url.searchParams,
        body,
      );
      return send(response, result.status, { "content-type": "application/json" }, result.body);
    }
    const connector = await botFramework.handle({
      method: request.method ?? "GET",
      path: url.pathname,
      headers,
      rawBody,
    });
    if (connector) return send(response, connector.status, connector.headers, connector.body);
    const entra = await handleEntra(
      { method: request.method ?? "GET", path: url.pathname, headers, rawBody },
      tenant,
      key,
      state.baseUrl,
    );
    if (entra) return send(response, entra.status, entra.headers, entra.body);
    return send(
      response,
      404,
      { "content-type": "application/json" },
      { error: "not_found", error_description: `The emulator serves no ${url.pathname}` },
    );
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  state.baseUrl = `https://127.0.0.1:${port}`;

  return {
    url: state.baseUrl,
    port,
    caCertPath: certificates.caCertPath,
    caPem: certificates.caPem,
    tenantId: tenant.tenantId,
    control,
    bot: botFramework.bot,
    userToken: (options) => signUserToken(tenant, key, state.baseUrl, options),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (temporaryDir) await fs.rm(temporaryDir, { recursive: true, force: true });
    },
  };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("request body too large"));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    request.on("error", reject);
  });
}

function send(response: ServerResponse, status: number, headers: Record<string, string>, body: unknown): void {
  const payload = body === undefined ? "" : JSON.stringify(body);
  response.writeHead(status, { ...headers, ...(payload ? { "content-length": Buffer.byteLength(payload) } : {}) });
  response.end(payload);
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
