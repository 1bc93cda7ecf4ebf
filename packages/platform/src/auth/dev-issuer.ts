import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { Role } from "@hearth/contracts";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";

/** The development tenant: the dev issuer's tokens carry it, and so does the demo data. */
export const DEV_TENANT_ID = "7f1c4c3e-5a0b-4d2e-9a51-3c8f2b6d0e11";
export const DEV_AUDIENCE = "api://hearth";
/** The client (`azp`) the dev issuer pretends to have issued its tokens to: Hearth's own tab. */
export const DEV_CLIENT_ID = "c0ffee00-4e1a-4b5c-8d2f-6a7b8c9d0e1f";

const KEY_FILE_NAME = "dev-issuer-key.json";

export type DevIssuerOptions = { tenantId?: string; audience?: string };

export type SignAccessTokenOptions = {
  upn: string;
  name?: string;
  /** Default: demoUserObjectId(upn). */
  objectId?: string;
  roles?: readonly Role[];
  /** Default 3600; negative for an already expired token. */
  expiresInSeconds?: number;
  /** Default: the issuer's audience. */
  audience?: string | string[];
  /** Default: now. */
  notBefore?: Date;
  /** Applied last, so they override any claim (`undefined` removes one) while the signature stays genuine. */
  extraClaims?: Record<string, unknown>;
};

export type JsonWebKeySet = { keys: JWK[] };

export type DevIssuer = {
  tenantId: string;
  audience: string;
  /** https://login.microsoftonline.com/{tenantId}/v2.0, exactly as Entra ID, so verification takes the same path. */
  issuer: string;
  kid: string;
  jwks(): JsonWebKeySet;
  openIdConfiguration(baseUrl: string): Record<string, unknown>;
  signAccessToken(options: SignAccessTokenOptions): Promise<string>;
};

/**
 * A development issuer whose key is kept in `${dir}/dev-issuer-key.json` (mode 0600), so tokens stay valid across
 * restarts. Concurrent first starts agree on one key.
 */
export async function loadOrCreateDevIssuer(options: DevIssuerOptions & { dir: string }): Promise<DevIssuer> {
  const privateJwk = await loadOrCreatePrivateKey(path.join(options.dir, KEY_FILE_NAME));
  return devIssuerFor(privateJwk, options);
}

/** A development issuer with a fresh key that is never written anywhere (tests). */
export async function createDevIssuerInMemory(options: DevIssuerOptions = {}): Promise<DevIssuer> {
  return devIssuerFor(await newPrivateJwk(), options);
}

/** The same person always gets the same object id, so demo data and tokens line up across runs and machines. */
export function demoUserObjectId(upn: string): string {
  const bytes = createHash("sha256").update(`hearth-demo-user:${upn.trim().toLowerCase()}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function entraIssuer(tenantId: string): string {
  return `https://login.microsoftonline.com/${tenantId}/v2.0`;
}

async function devIssuerFor(privateJwk: JWK, options: DevIssuerOptions): Promise<DevIssuer> {
  const tenantId = options.tenantId ?? DEV_TENANT_ID;
  const audience = options.audience ?? DEV_AUDIENCE;
  const issuer = entraIssuer(tenantId);
  const kid = await calculateJwkThumbprint(privateJwk);
  const publicJwk: JWK = { kty: "RSA", n: privateJwk.n, e: privateJwk.e, kid, alg: "RS256", use: "sig" };
  const signingKey = await importJWK(privateJwk, "RS256");

  return {
    tenantId,
    audience,
    issuer,
    kid,
    jwks: () => ({ keys: [{ ...publicJwk }] }),
    openIdConfiguration: (baseUrl) => openIdConfiguration(issuer, baseUrl.replace(/\/+$/, "")),
    async signAccessToken(token) {
      const claims = accessTokenClaims(token, { tenantId, audience, issuer });
      return new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT", kid }).sign(signingKey);
    },
  };
}

function accessTokenClaims(
  token: SignAccessTokenOptions,
  defaults: { tenantId: string; audience: string; issuer: string },
): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const objectId = token.objectId ?? demoUserObjectId(token.upn);
  const audience = token.audience ?? defaults.audience;
  return {
    aud: audience,
    iss: defaults.issuer,
    iat: now,
    nbf: token.notBefore ? Math.floor(token.notBefore.getTime() / 1000) : now,
    exp: now + (token.expiresInSeconds ?? 3600),
    azp: DEV_CLIENT_ID,
    azpacr: "0",
    ...(token.name === undefined ? {} : { name: token.name }),
    oid: objectId,
    preferred_username: token.upn,
    ...(token.roles && token.roles.length > 0 ? { roles: [...token.roles] } : {}),
    scp: "access_as_user",
    // Entra's sub is pairwise: one user has a different sub for every API.
    sub: createHash("sha256")
      .update(`${objectId}|${String(audience)}`)
      .digest("base64url"),
    tid: defaults.tenantId,
    ver: "2.0",
    ...token.extraClaims,
  };
}

function openIdConfiguration(issuer: string, baseUrl: string): Record<string, unknown> {
  return {
    issuer,
    authorization_endpoint: `${baseUrl}/oauth2/v2.0/authorize`,
    token_endpoint: `${baseUrl}/oauth2/v2.0/token`,
    jwks_uri: `${baseUrl}/discovery/v2.0/keys`,
    response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
    subject_types_supported: ["pairwise"],
    id_token_signing_alg_values_supported: ["RS256"],
    scopes_supported: ["openid", "profile", "email", "offline_access"],
    token_endpoint_auth_methods_supported: ["client_secret_post", "private_key_jwt", "client_secret_basic"],
  };
}

async function newPrivateJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  return exportJWK(privateKey);
}

async function loadOrCreatePrivateKey(file: string): Promise<JWK> {
  const existing = await readPrivateKey(file);
  if (existing) return existing;
  await fs.mkdir(path.dirname(file), { recursive: true });
  // Written aside, then linked into place: link fails if another process got there first, and nobody ever reads a
  // half-written key.
  const draft = `${file}.${randomUUID()}.tmp`;
  await fs.writeFile(draft, JSON.stringify(await newPrivateJwk()), { mode: 0o600, flag: "wx" });
  try {
    await fs.link(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await fs.rm(draft, { force: true });
  }
  const stored = await readPrivateKey(file);
  if (!stored) throw new Error(`dev issuer: ${file} vanished right after it was written`);
  return stored;
}

async function readPrivateKey(file: string): Promise<JWK | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const jwk = parseJson(text);
  if (!isRsaPrivateJwk(jwk)) {
    // Replacing it silently would invalidate every token handed out so far; let a person decide.
    throw new Error(`dev issuer: ${file} is not an RSA private key in JWK form; delete it to create a new key`);
  }
  return jwk;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRsaPrivateJwk(value: unknown): value is JWK {
  const jwk = value as JWK | undefined;
  return (
    typeof jwk === "object" &&
    jwk !== null &&
    jwk.kty === "RSA" &&
    [jwk.n, jwk.e, jwk.d, jwk.p, jwk.q, jwk.dp, jwk.dq, jwk.qi].every((part) => typeof part === "string")
  );
}
