import { ROLES, type Role } from "@hearth/contracts";
import { type JWTPayload, type JWTVerifyOptions, jwtVerify } from "jose";
import type { Caller } from "../access.ts";
import { TokenRejectedError, type TokenRejectionReason } from "./errors.ts";
import { createKeyResolver, type KeyResolver } from "./key-set.ts";

export type { Caller, Role };

export type TokenVerifierOptions = {
  /** Entra ID: https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys */
  jwksUrl: string;
  /** Entra ID v2: https://login.microsoftonline.com/{tenant}/v2.0 */
  issuer: string;
  /** Hearth's API: its application ID URI and/or client id. */
  audience: string | string[];
  /** The tenant that owns the data; tokens of any other tenant are refused. */
  tenantId: string;
  /** Default 30. */
  clockToleranceSeconds?: number;
  /** At most one JWKS fetch per this period however many unknown key ids arrive. Default 30 s. */
  jwksCooldownMs?: number;
  /** Default 10 min. */
  jwksCacheMaxAgeMs?: number;
  /** Default 5 s. */
  jwksTimeoutMs?: number;
  /** While the JWKS endpoint is unreachable, the last fetched keys are used for this long. Default 24 h. */
  jwksLastKnownGoodMaxAgeMs?: number;
  /** Verified tokens are remembered this long at most (never past their own expiry); 0 turns it off. Default 5 min. */
  verifiedCacheMs?: number;
  /** Default 10,000 tokens. */
  verifiedCacheSize?: number;
};

export type TokenVerifier = {
  /** Resolves to the caller, or throws TokenRejectedError (401) or KeySetUnavailableError (503). */
  verify(bearerToken: string): Promise<Caller>;
};

/** Tokens meant for Microsoft Graph must never be accepted by Hearth (confused deputy), whatever the configuration. */
const GRAPH_AUDIENCES = new Set([
  "00000003-0000-0000-c000-000000000000",
  "https://graph.microsoft.com",
  "https://graph.microsoft.us",
  "https://dod-graph.microsoft.us",
  "https://microsoftgraph.chinacloudapi.cn",
]);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Longer than any real access token and than Node's default header limit; refused before any parsing. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Verifies Entra ID v2 access tokens for Hearth's API: RS256 only, signed by a key of the tenant's JWKS, our issuer,
 * our audience (never Microsoft Graph), our tenant, not expired and already valid.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const audiences = Array.isArray(options.audience) ? options.audience : [options.audience];
  if (audiences.length === 0) throw new Error("token verifier: no audience configured");
  if (audiences.some(isGraphAudience)) throw new Error("token verifier: Hearth's audience must not be Microsoft Graph");
  const tenantId = options.tenantId.toLowerCase();
  const keys = createKeyResolver({
    url: options.jwksUrl,
    cooldownMs: options.jwksCooldownMs ?? 30_000,
    cacheMaxAgeMs: options.jwksCacheMaxAgeMs ?? 10 * 60_000,
    timeoutMs: options.jwksTimeoutMs ?? 5_000,
    lastKnownGoodMaxAgeMs: options.jwksLastKnownGoodMaxAgeMs ?? 24 * 60 * 60_000,
  });
  const verifyOptions: JWTVerifyOptions = {
    algorithms: ["RS256"],
    issuer: options.issuer,
    audience: audiences,
    clockTolerance: options.clockToleranceSeconds ?? 30,
    requiredClaims: ["exp"],
  };

  const remembered = new VerifiedTokens(options.verifiedCacheMs ?? 5 * 60_000, options.verifiedCacheSize ?? 10_000);

  return {
    async verify(bearerToken) {
      const now = Date.now();
      const known = remembered.get(bearerToken, now);
      if (known) return known;
      if (typeof bearerToken !== "string" || bearerToken.length > MAX_TOKEN_LENGTH) {
        reject("malformed", "the token is malformed");
      }
      const payload = await verifySignatureAndTimes(bearerToken, keys, verifyOptions, tenantId);
      checkEntraClaims(payload, tenantId);
      const caller = callerFrom(payload);
      remembered.set(bearerToken, caller, (payload.exp as number) * 1000, now);
      return caller;
    },
  };
}

/**
 * Remembers verified tokens by their exact text: a client reusing its token (Entra clients do, for an hour) costs
 * one RS256 verification (~220 µs here) instead of one per request. Bounded in size; an entry ends at the token's
 * expiry or after `ttlMs`, whichever comes first, so a key withdrawn from the JWKS stops being honoured soon after.
 */
class VerifiedTokens {
  readonly #entries = new Map<string, { caller: Caller; until: number }>();
  readonly #ttlMs: number;
  readonly #size: number;

  constructor(ttlMs: number, size: number) {
    this.#ttlMs = ttlMs;
    this.#size = size;
  }

  get(token: string, now: number): Caller | undefined {
    const entry = this.#entries.get(token);
    if (!entry) return undefined;
    if (entry.until > now) return entry.caller;
    this.#entries.delete(token);
    return undefined;
  }

  set(token: string, caller: Caller, expiresAtMs: number, now: number): void {
    if (this.#ttlMs <= 0) return;
    if (this.#entries.size >= this.#size) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(token, { caller: Object.freeze(caller), until: Math.min(expiresAtMs, now + this.#ttlMs) });
  }
}

async function verifySignatureAndTimes(
  token: string,
  keys: KeyResolver,
  options: JWTVerifyOptions,
  tenantId: string,
): Promise<JWTPayload> {
  try {
    const { payload } = await jwtVerify(token, keys, options);
    return payload;
  } catch (error) {
    throw rejectionFor(error, tenantId);
  }
}

function checkEntraClaims(payload: JWTPayload, tenantId: string): void {
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  if (audiences.some((aud) => typeof aud === "string" && isGraphAudience(aud))) {
    reject("bad_audience", "the token is meant for Microsoft Graph");
  }
  if (payload.tid === undefined) reject("missing_claim", "the token has no tenant id (tid)");
  if (!isGuid(payload.tid) || payload.tid.toLowerCase() !== tenantId) {
    reject("bad_tenant", "the token belongs to another tenant");
  }
  if (!isGuid(payload.oid)) reject("missing_claim", "the token has no valid object id (oid)");
  if (payload.ver !== "2.0") reject("missing_claim", "the token is not an Entra ID v2.0 access token (ver)");
}

function callerFrom(payload: JWTPayload): Caller {
  const upn = payload.preferred_username ?? payload.upn;
  return {
    tenantId: (payload.tid as string).toLowerCase(),
    objectId: (payload.oid as string).toLowerCase(),
    roles: rolesFrom(payload.roles),
    ...(typeof payload.name === "string" ? { name: payload.name } : {}),
    ...(typeof upn === "string" ? { upn } : {}),
  };
}

/** Known app roles from the `roles` claim; everyone signed in is an Employee. */
function rolesFrom(rolesClaim: unknown): Role[] {
  const claimed: unknown[] = Array.isArray(rolesClaim) ? rolesClaim : [];
  return ROLES.filter((role) => role === "Employee" || claimed.includes(role));
}

function rejectionFor(error: unknown, tenantId: string): Error {
  const code = (error as { code?: unknown } | null)?.code;
  switch (code) {
    case "ERR_JWT_EXPIRED":
      return rejection("expired", "the token has expired");
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return claimRejection(error as ClaimValidationError, tenantId);
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return rejection("bad_algorithm", "only RS256 tokens are accepted");
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return rejection("unknown_key", "the token is signed with an unknown key");
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return rejection("bad_signature", "the token's signature is invalid");
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
    case "ERR_JOSE_NOT_SUPPORTED":
      return rejection("malformed", "the token is malformed");
    default:
      // KeySetUnavailableError, or a fault of ours: not the caller's fault, so not a rejection.
      return error instanceof Error ? error : new Error(String(error));
  }
}

type ClaimValidationError = { claim: string; reason: string; payload: JWTPayload };

function claimRejection(error: ClaimValidationError, tenantId: string): TokenRejectedError {
  if (error.reason === "missing") return rejection("missing_claim", `the token has no ${error.claim} claim`);
  if (error.reason !== "check_failed") return rejection("malformed", `the token's ${error.claim} claim is invalid`);
  switch (error.claim) {
    case "nbf":
      return rejection("not_yet_valid", "the token is not valid yet");
    case "aud":
      return rejection("bad_audience", "the token is not meant for this API");
    case "iss":
      // The signature has been checked by now, so the tenant id is genuine: name the real problem.
      return isGuid(error.payload.tid) && error.payload.tid.toLowerCase() !== tenantId
        ? rejection("bad_tenant", "the token belongs to another tenant")
        : rejection("bad_issuer", "the token comes from another issuer");
    default:
      return rejection("malformed", `the token's ${error.claim} claim is invalid`);
  }
}

function isGraphAudience(audience: string): boolean {
  return GRAPH_AUDIENCES.has(audience.toLowerCase().replace(/\/+$/, ""));
}

function isGuid(value: unknown): value is string {
  return typeof value === "string" && GUID.test(value);
}

function rejection(reason: TokenRejectionReason, message: string): TokenRejectedError {
  return new TokenRejectedError(reason, message);
}

function reject(reason: TokenRejectionReason, message: string): never {
  throw rejection(reason, message);
}
