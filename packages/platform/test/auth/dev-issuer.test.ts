import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import test, { type ExecutionContext } from "ava";
import { decodeJwt, decodeProtectedHeader } from "jose";
import {
  createDevIssuerInMemory,
  createTokenVerifier,
  DEV_AUDIENCE,
  DEV_TENANT_ID,
  demoUserObjectId,
  loadOrCreateDevIssuer,
} from "../../src/auth/index.ts";
import { startJwksServer } from "./jwks-server.ts";

const V4_GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "hearth-dev-issuer-"));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

test("demo users keep one v4-shaped object id, whatever the case of their upn", (t) => {
  const id = demoUserObjectId("Ada.Lovelace@contoso.example");
  t.regex(id, V4_GUID);
  t.is(demoUserObjectId("ada.lovelace@contoso.example"), id);
  t.not(demoUserObjectId("grace.hopper@contoso.example"), id);
});

test("the key is created once with mode 0600 in a new folder and reused by later loads", async (t) => {
  const dir = path.join(await tempDir(t), "nested", "keys");
  const first = await loadOrCreateDevIssuer({ dir });
  const file = path.join(dir, "dev-issuer-key.json");
  t.is((await fs.stat(file)).mode & 0o777, 0o600);
  const second = await loadOrCreateDevIssuer({ dir });
  t.is(second.kid, first.kid);
  t.deepEqual(second.jwks(), first.jwks());
  t.deepEqual(await fs.readdir(dir), ["dev-issuer-key.json"], "no drafts left behind");
});

test("concurrent first loads agree on one key", async (t) => {
  const dir = await tempDir(t);
  const issuers = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDevIssuer({ dir })));
  t.is(new Set(issuers.map((issuer) => issuer.kid)).size, 1);
  t.deepEqual(await fs.readdir(dir), ["dev-issuer-key.json"]);
});

test("a damaged key file is reported, not silently replaced", async (t) => {
  const dir = await tempDir(t);
  await fs.writeFile(path.join(dir, "dev-issuer-key.json"), '{"kty":"RSA"}');
  await t.throwsAsync(loadOrCreateDevIssuer({ dir }), { message: /not an RSA private key/ });
  t.is(await fs.readFile(path.join(dir, "dev-issuer-key.json"), "utf8"), '{"kty":"RSA"}');
});

test("the published key set holds only the public key, with its thumbprint as kid", async (t) => {
  const issuer = await createDevIssuerInMemory();
  const { keys } = issuer.jwks();
  t.is(keys.length, 1);
  t.like(keys[0], { kty: "RSA", kid: issuer.kid, alg: "RS256", use: "sig" });
  t.deepEqual(Object.keys(keys[0]!).sort(), ["alg", "e", "kid", "kty", "n", "use"]);
});

test("access tokens carry Entra ID v2 claims", async (t) => {
  const issuer = await createDevIssuerInMemory();
  const token = await issuer.signAccessToken({ upn: "ada@contoso.example", name: "Ada", roles: ["HR"] });
  t.deepEqual(decodeProtectedHeader(token), { alg: "RS256", typ: "JWT", kid: issuer.kid });
  const claims = decodeJwt(token);
  t.like(claims, {
    aud: DEV_AUDIENCE,
    iss: `https://login.microsoftonline.com/${DEV_TENANT_ID}/v2.0`,
    tid: DEV_TENANT_ID,
    oid: demoUserObjectId("ada@contoso.example"),
    preferred_username: "ada@contoso.example",
    name: "Ada",
    roles: ["HR"],
    scp: "access_as_user",
    ver: "2.0",
  });
  t.is(claims.exp! - claims.iat!, 3600);
  t.is(claims.nbf, claims.iat);
  t.is(typeof claims.sub, "string");
  t.is(typeof claims.azp, "string");
  t.false("roles" in decodeJwt(await issuer.signAccessToken({ upn: "ada@contoso.example", roles: [] })));
});

test("another tenant and audience change the issuer and the claims", async (t) => {
  const tenantId = "0b5e2f4a-9c3d-4e8f-a1b2-c3d4e5f60718";
  const issuer = await createDevIssuerInMemory({ tenantId, audience: "api://elsewhere" });
  t.is(issuer.issuer, `https://login.microsoftonline.com/${tenantId}/v2.0`);
  t.like(decodeJwt(await issuer.signAccessToken({ upn: "x@y.example" })), { tid: tenantId, aud: "api://elsewhere" });
});

test("the OpenID configuration points at the key set it serves", async (t) => {
  const issuer = await createDevIssuerInMemory();
  t.like(issuer.openIdConfiguration("http://127.0.0.1:4000/"), {
    issuer: issuer.issuer,
    jwks_uri: "http://127.0.0.1:4000/discovery/v2.0/keys",
    token_endpoint: "http://127.0.0.1:4000/oauth2/v2.0/token",
    id_token_signing_alg_values_supported: ["RS256"],
  });
});

test("a token from a reloaded file issuer verifies against the key set published before the reload", async (t) => {
  const dir = await tempDir(t);
  const first = await loadOrCreateDevIssuer({ dir });
  const jwks = await startJwksServer(t, first.jwks());
  const verifier = createTokenVerifier({
    jwksUrl: jwks.url,
    issuer: first.issuer,
    audience: first.audience,
    tenantId: first.tenantId,
  });
  const reloaded = await loadOrCreateDevIssuer({ dir });
  const caller = await verifier.verify(
    await reloaded.signAccessToken({ upn: "ada@contoso.example", roles: ["Admin"] }),
  );
  t.deepEqual(caller.roles, ["Employee", "Admin"]);
});
