// Emulated Entra ID for one tenant: OpenID discovery, the v2.0 token endpoint (client credentials only) and the
// JWKS. Graph app tokens look like Entra's: v1.0 tokens with aud https://graph.microsoft.com, the granted
// application permissions in `roles`, idtyp "app", RS256 with a `kid` from the JWKS.
// Errors use Entra's OAuth format: { error, error_description: "AADSTSnnn: …", error_codes, timestamp, trace_id, correlation_id }.
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { Tenant } from "../tenant/tenant.ts";
import type { SigningKey } from "./signing-key.ts";

export const GRAPH_RESOURCE = "https://graph.microsoft.com";
export const GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000";
/** Bots get tokens for the Bot Connector from Entra ID too (client credentials, this resource's /.default). */
export const BOT_FRAMEWORK_RESOURCE = "https://api.botframework.com";
export const TOKEN_LIFETIME_SECONDS = 3599;

export type EntraResponse = { status: number; headers: Record<string, string>; body: unknown };

export type EntraRequest = { method: string; path: string; headers: Record<string, string>; rawBody: string };

/** Token issuer of Graph app tokens (v1.0), exactly as Entra writes it. */
export const tokenIssuer = (tenantId: string): string => `https://sts.windows.net/${tenantId}/`;

/** Answers Entra ID routes; undefined when the path is not one of them. */
export async function handleEntra(
  request: EntraRequest,
  tenant: Tenant,
  key: SigningKey,
  baseUrl: string,
): Promise<EntraResponse | undefined> {
  const match =
    /^\/([^/]+)\/(v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys|oauth2\/v2\.0\/token)\/?$/.exec(
      request.path,
    );
  if (!match) return undefined;
  const [, tenantSegment, endpoint] = match;
  const known = [tenant.tenantId, tenant.domain].some(
    (name) => name.toLowerCase() === decodeURIComponent(tenantSegment!).toLowerCase(),
  );
  if (!known) {
    return oauthError(
      400,
      "invalid_tenant",
      90002,
      `Tenant '${tenantSegment}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    );
  }
  if (endpoint === "discovery/v2.0/keys") {
    if (request.method !== "GET") return methodNotAllowed();
    return json(200, { keys: [{ ...key.publicJwk, x5t: key.kid, issuer: `${baseUrl}/${tenant.tenantId}/v2.0` }] });
  }
  if (endpoint === "v2.0/.well-known/openid-configuration") {
    if (request.method !== "GET") return methodNotAllowed();
    return json(200, openIdConfiguration(baseUrl, tenant.tenantId));
  }
  if (request.method !== "POST") return methodNotAllowed();
  return issueToken(request, tenant, key);
}

export function openIdConfiguration(baseUrl: string, tenantId: string): Record<string, unknown> {
  const authority = `${baseUrl}/${tenantId}`;
  return {
    token_endpoint: `${authority}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
    jwks_uri: `${authority}/discovery/v2.0/keys`,
    response_modes_supported: ["query", "fragment", "form_post"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    issuer: `${authority}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${baseUrl}/oidc/userinfo`,
    authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${authority}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
    claims_supported: [
      "sub",
      "iss",
      "cloud_instance_name",
      "cloud_instance_host_name",
      "cloud_graph_host_name",
      "msgraph_host",
      "aud",
      "exp",
      "iat",
      "auth_time",
      "acr",
      "nonce",
      "preferred_username",
      "name",
      "tid",
      "ver",
      "at_hash",
      "c_hash",
      "email",
    ],
    kerberos_endpoint: `${authority}/kerberos`,
    tenant_region_scope: "EU",
    cloud_instance_name: "microsoftonline.com",
    cloud_graph_host_name: "graph.windows.net",
    msgraph_host: "graph.microsoft.com",
    rbac_url: "https://pas.windows.net",
  };
}

async function issueToken(request: EntraRequest, tenant: Tenant, key: SigningKey): Promise<EntraResponse> {
  const form = new URLSearchParams(request.rawBody);
  let clientId = form.get("client_id");
  let clientSecret = form.get("client_secret");
  const basic = /^Basic\s+(.+)$/i.exec(request.headers.authorization ?? "");
  if (basic) {
    const [id, secret] = Buffer.from(basic[1]!, "base64").toString("utf8").split(":");
    clientId ??= decodeURIComponent(id ?? "");
    clientSecret ??= decodeURIComponent(secret ?? "");
  }
  const grantType = form.get("grant_type");
  if (!grantType)
    return oauthError(
      400,
      "invalid_request",
      900144,
      "The request body must contain the following parameter: 'grant_type'.",
    );
  if (grantType !== "client_credentials") {
    return oauthError(
      400,
      "unsupported_grant_type",
      70003,
      `The app requested an unsupported grant type '${grantType}'.`,
    );
  }
  if (!clientId)
    return oauthError(
      400,
      "invalid_request",
      900144,
      "The request body must contain the following parameter: 'client_id'.",
    );
  const app = tenant.apps.get(clientId);
  if (!app) {
    return oauthError(
      400,
      "unauthorized_client",
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenant.displayName}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    );
  }
  if (!clientSecret) {
    return oauthError(
      401,
      "invalid_client",
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    );
  }
  if (clientSecret !== app.clientSecret) {
    return oauthError(
      401,
      "invalid_client",
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
    );
  }
  const scope = form.get("scope") ?? "";
  const resource = scope.endsWith("/.default") ? scope.slice(0, -"/.default".length) : undefined;
  if (!resource || scope.includes(" ")) {
    return oauthError(
      400,
      "invalid_scope",
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  const botFramework = resource === BOT_FRAMEWORK_RESOURCE;
  if (resource !== GRAPH_RESOURCE && resource !== GRAPH_APP_ID && !botFramework) {
    return oauthError(
      400,
      "invalid_resource",
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenant.displayName}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    );
  }
  const now = Math.floor(Date.now() / 1000);
  const roles = [...app.permissions].sort();
  const issuer = tokenIssuer(tenant.tenantId);
  const claims: Record<string, unknown> = {
    aud: botFramework ? BOT_FRAMEWORK_RESOURCE : GRAPH_RESOURCE,
    iss: issuer,
    iat: now,
    nbf: now,
    exp: now + tenant.tokenLifetimeSeconds,
    aio: randomUUID(),
    app_displayname: app.displayName,
    appid: app.clientId,
    appidacr: "1",
    azp: app.clientId,
    idp: issuer,
    idtyp: "app",
    oid: app.servicePrincipalId,
    rh: "0.emulated.",
    // Entra leaves `roles` out entirely when the app has no application permissions.
    ...(roles.length > 0 && !botFramework ? { roles } : {}),
    sub: app.servicePrincipalId,
    tenant_region_scope: "EU",
    tid: tenant.tenantId,
    uti: randomUUID().replaceAll("-", "").slice(0, 22),
    ver: "1.0",
    xms_tcdt: now - 86_400 * 365,
  };
  const accessToken = await new SignJWT(claims)
    .setProtectedHeader({ typ: "JWT", alg: "RS256", x5t: key.kid, kid: key.kid })
    .sign(key.privateKey);
  return json(200, {
    token_type: "Bearer",
    expires_in: tenant.tokenLifetimeSeconds,
    ext_expires_in: tenant.tokenLifetimeSeconds,
    access_token: accessToken,
  });
}

function oauthError(status: number, error: string, code: number, description: string): EntraResponse {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = new Date()
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, "Z");
  return json(status, {
    error,
    error_description: `AADSTS${code}: ${description} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
    error_codes: [code],
    timestamp,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  });
}

function methodNotAllowed(): EntraResponse {
  return json(405, {
    error: "invalid_request",
    error_description: "AADSTS900561: The endpoint only accepts POST, OPTIONS requests.",
  });
}

function json(status: number, body: unknown): EntraResponse {
  return {
    status,
    headers: {
      "content-type": "application/json; charset=utf-8",
      "cache-control": "no-store, no-cache",
      pragma: "no-cache",
    },
    body,
  };
}
