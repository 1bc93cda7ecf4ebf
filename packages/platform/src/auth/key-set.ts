import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  type JWKSCacheInput,
  jwksCache,
  type LocalJWKSet,
} from "jose";
import { KeySetUnavailableError } from "./errors.ts";

export type KeySetOptions = {
  url: string;
  /** Minimum time between fetches caused by unknown key ids. */
  cooldownMs: number;
  /** Keys older than this are refetched before use. */
  cacheMaxAgeMs: number;
  timeoutMs: number;
  /** How long the last fetched keys stand in while the endpoint is unreachable. */
  lastKnownGoodMaxAgeMs: number;
};

export type KeyResolver = (...args: Parameters<LocalJWKSet>) => ReturnType<LocalJWKSet>;

type FetchedKeys = { uat?: number; jwks?: JSONWebKeySet };

/**
 * jose's remote key set, plus a last-known-good fallback: jose drops its keys once `cacheMaxAge` has passed even
 * if the refetch fails, which would turn a JWKS outage longer than ten minutes into rejecting every caller.
 */
export function createKeyResolver(options: KeySetOptions): KeyResolver {
  // jose records every successful fetch here (keys and time).
  const fetched: FetchedKeys = {};
  const remote = createRemoteJWKSet(new URL(options.url), {
    cooldownDuration: options.cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs,
    timeoutDuration: options.timeoutMs,
    [jwksCache]: fetched as JWKSCacheInput,
  });
  let lastFailureAt = Number.NEGATIVE_INFINITY;
  let lastKnownGood: { uat: number; keys: LocalJWKSet } | undefined;

  function lastKnownGoodKeys(): LocalJWKSet | undefined {
    if (fetched.uat === undefined || fetched.jwks === undefined) return undefined;
    if (Date.now() - fetched.uat > options.lastKnownGoodMaxAgeMs) return undefined;
    if (lastKnownGood?.uat !== fetched.uat) lastKnownGood = { uat: fetched.uat, keys: createLocalJWKSet(fetched.jwks) };
    return lastKnownGood.keys;
  }

  function failedRecently(): boolean {
    return Date.now() - lastFailureAt < options.cooldownMs;
  }

  return async (protectedHeader, token) => {
    // jose has no cooldown after a failed fetch; without this every request would wait for the timeout again.
    const standIn = failedRecently() ? lastKnownGoodKeys() : undefined;
    if (standIn) return standIn(protectedHeader, token);
    try {
      return await remote(protectedHeader, token);
    } catch (error) {
      if (isKeyLookupFailure(error)) throw error;
      lastFailureAt = Date.now();
      const keys = lastKnownGoodKeys();
      if (!keys) throw new KeySetUnavailableError(error);
      return keys(protectedHeader, token);
    }
  };
}

/** The key set was fetched fine; it just has no single key for this token. */
function isKeyLookupFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === "ERR_JWKS_NO_MATCHING_KEY" || code === "ERR_JWKS_MULTIPLE_MATCHING_KEYS";
}
