// Entra ID v2.0 user access tokens for Hearth's own API (what the Teams tab or a browser would get by signing a
// person in), signed with the tenant's key and published in the same JWKS: the gateway, configured with this
// emulator as its Entra authority, verifies them exactly as it would Microsoft's.
import { createHash } from "node:crypto";
import { SignJWT } from "jose";
import type { Tenant } from "../tenant/tenant.ts";
import type { SigningKey } from "./signing-key.ts";

export type UserTokenOptions = {
  /** Object id or user principal name of a user of the tenant. */
  user: string;
  /** Hearth's API: its application ID URI or client id (the gateway's AUTH_AUDIENCE). */
  audience: string;
  /** App roles assigned to the person in Hearth's enterprise app (Employee, HR, CommunityManager, Admin). */
  roles?: string[];
  /** Delegated scopes of the client that asked (e.g. access_as_user). */
  scopes?: string[];
  /** Default 3599 s (Entra's are 60–90 minutes); negative values give expired tokens for tests. */
  lifetimeSeconds?: number;
  /** The client application the person signed in with (azp). */
  clientId?: string;
};

/** The v2.0 issuer of the emulated tenant, as its OpenID configuration announces it. */
export const userTokenIssuer = (baseUrl: string, tenantId: string) => `${baseUrl}/${tenantId}/v2.0`;

export async function signUserToken(
  tenant: Tenant,
  key: SigningKey,
  baseUrl: string,
  options: UserTokenOptions,
): Promise<string> {
  const record = tenant.find(options.user);
  if (!record || record.removed !== null) throw new Error(`no user ${options.user} in the tenant`);
  if (!record.data.accountEnabled) throw new Error(`${options.user} cannot sign in: the account is disabled`);
  const now = Math.floor(Date.now() / 1000);
  const lifetime = options.lifetimeSeconds ?? 3599;
  const clientId = options.clientId ?? "5e3ce6c0-2b1f-4285-8d4b-75ee78787346";
  return new SignJWT({
    aud: options.audience,
    iss: userTokenIssuer(baseUrl, tenant.tenantId),
    iat: Math.min(now, now + lifetime - 1),
    nbf: Math.min(now, now + lifetime - 1),
    exp: now + lifetime,
    aio: crypto.randomUUID(),
    azp: clientId,
    azpacr: "0",
    name: record.data.displayName,
    oid: record.data.id,
    preferred_username: record.data.userPrincipalName,
    rh: "0.emulated.",
    ...(options.roles?.length ? { roles: options.roles } : {}),
    ...(options.scopes?.length ? { scp: options.scopes.join(" ") } : {}),
    // Entra's sub is pairwise: the same person has another sub in another app.
    sub: createHash("sha256").update(`${record.data.id}|${clientId}`).digest("base64url").slice(0, 43),
    tid: tenant.tenantId,
    uti: crypto.randomUUID().replaceAll("-", "").slice(0, 22),
    ver: "2.0",
  })
    .setProtectedHeader({ typ: "JWT", alg: "RS256", kid: key.kid })
    .sign(key.privateKey);
}
