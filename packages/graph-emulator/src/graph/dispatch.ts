// One pipeline for every Graph request, direct or inside $batch: bearer token → route → permission → throttling →
// handler, with Graph's error envelope and request-id headers on every response.
import { randomUUID } from "node:crypto";
import { errors as joseErrors, jwtVerify } from "jose";
import { GRAPH_APP_ID, GRAPH_RESOURCE, tokenIssuer } from "../entra/entra.ts";
import type { SigningKey } from "../entra/signing-key.ts";
import { runBatch } from "./batch.ts";
import { errorBody, GraphError } from "./errors.ts";
import type { AppToken, EmulatorState, GraphRequest, GraphResponse, GraphRoute } from "./types.ts";

export const JSON_CONTENT_TYPE =
  "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8";

export type GraphDispatcher = (request: GraphRequest) => Promise<GraphResponse>;

export function createGraphDispatcher(
  state: EmulatorState,
  key: SigningKey,
  routes: readonly GraphRoute[],
): GraphDispatcher {
  const verified = new Map<string, AppToken>();

  async function authenticate(request: GraphRequest): Promise<AppToken> {
    const match = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? "");
    if (!match) throw new GraphError(401, "InvalidAuthenticationToken", "Access token is empty.");
    const raw = match[1]!;
    let token = verified.get(raw);
    if (!token) {
      try {
        const { payload } = await jwtVerify(raw, key.publicKey, {
          algorithms: ["RS256"],
          issuer: tokenIssuer(state.tenant.tenantId),
        });
        if (payload.aud !== GRAPH_RESOURCE && payload.aud !== GRAPH_APP_ID) {
          throw new GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.");
        }
        token = {
          appId: String(payload.appid ?? payload.azp ?? ""),
          tenantId: String(payload.tid ?? ""),
          roles: new Set(Array.isArray(payload.roles) ? payload.roles.map(String) : []),
          expiresAt: (payload.exp ?? 0) * 1000,
        };
      } catch (error) {
        if (error instanceof GraphError) throw error;
        if (error instanceof joseErrors.JWTExpired) {
          throw new GraphError(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.");
        }
        throw new GraphError(401, "InvalidAuthenticationToken", "Access token validation failure.");
      }
      if (verified.size > 1000) verified.clear();
      verified.set(raw, token);
    }
    if (token.expiresAt <= Date.now())
      throw new GraphError(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.");
    return token;
  }

  async function dispatch(request: GraphRequest): Promise<GraphResponse> {
    const clientRequestId = request.headers["client-request-id"] ?? request.requestId;
    const baseHeaders = { "request-id": request.requestId, "client-request-id": clientRequestId };
    let release = () => {};
    try {
      const token = await authenticate(request);
      if (request.method === "POST" && /^\/\$batch\/?$/.test(request.path)) {
        const response = await runBatch(request, dispatch);
        return withHeaders(response, baseHeaders);
      }
      const { route, params } = matchRoute(routes, request);
      if (!route.permissions.some((permission) => token.roles.has(permission))) {
        throw new GraphError(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.");
      }
      const graphBase = `${state.baseUrl}/v1.0`;
      const context = { state, request, token, params, graphBase };
      const limit = route.limit(context);
      const admission = state.throttler.admit(
        token.appId,
        limit?.limitClass ?? null,
        limit?.key ?? token.appId,
        limit?.cost ?? 1,
      );
      if (!admission.ok) {
        const headers = { "retry-after": String(admission.retryAfterSeconds) };
        // Exchange reports its per-mailbox concurrency limit in its own words.
        if (admission.concurrency) {
          throw new GraphError(
            429,
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            headers,
          );
        }
        throw new GraphError(
          429,
          "TooManyRequests",
          "Too many requests. Please wait for the number of seconds in the Retry-After header before retrying.",
          headers,
        );
      }
      release = admission.release;
      const response = await route.handle(context);
      const latency = limit ? state.latencyMs[limit.limitClass] : undefined;
      if (latency) await new Promise((resolve) => setTimeout(resolve, latency));
      return withHeaders(response, { ...baseHeaders, ...admission.headers });
    } catch (error) {
      if (!(error instanceof GraphError)) {
        console.error("graph-emulator: unexpected error", error);
        return errorResponse(
          500,
          "generalException",
          "An unexpected error occurred in the emulator.",
          baseHeaders,
          clientRequestId,
          request.requestId,
        );
      }
      return errorResponse(
        error.status,
        error.code,
        error.message,
        { ...baseHeaders, ...error.headers },
        clientRequestId,
        request.requestId,
      );
    } finally {
      release();
    }
  }

  return dispatch;
}

function matchRoute(routes: readonly GraphRoute[], request: GraphRequest): { route: GraphRoute; params: string[] } {
  let pathMatched = false;
  for (const route of routes) {
    const match = route.pattern.exec(request.path);
    if (!match) continue;
    pathMatched = true;
    if (route.method === request.method) return { route, params: match.slice(1) };
  }
  if (pathMatched)
    throw new GraphError(
      405,
      "Request_BadRequest",
      `The HTTP method '${request.method}' is not allowed for this resource.`,
    );
  const segment = request.path.split("/").filter(Boolean).at(-1) ?? "";
  throw new GraphError(400, "BadRequest", `Resource not found for the segment '${segment}'.`);
}

function withHeaders(response: GraphResponse, headers: Record<string, string>): GraphResponse {
  const merged = { ...headers, ...response.headers };
  if (response.body !== undefined && !merged["content-type"]) merged["content-type"] = JSON_CONTENT_TYPE;
  return { ...response, headers: merged };
}

function errorResponse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string>,
  clientRequestId: string,
  requestId: string,
): GraphResponse {
  return {
    status,
    headers: { ...headers, "content-type": JSON_CONTENT_TYPE },
    body: errorBody(code, message, requestId, clientRequestId),
  };
}

export function newRequestId(): string {
  return randomUUID();
}
