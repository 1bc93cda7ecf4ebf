import test from "ava";
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { appToken, request, runFixture, startForTest } from "./helpers/emulator.ts";

const setup = startForTest();
test.after.always(async () => (await setup).emulator.close());

test("OpenID discovery names endpoints on the emulator's own scheme, host and port", async (t) => {
  const { emulator } = await setup;
  const response = await request(emulator, `/${emulator.tenantId}/v2.0/.well-known/openid-configuration`);
  t.is(response.status, 200);
  const authority = `${emulator.url}/${emulator.tenantId}`;
  t.is(response.body.issuer, `${authority}/v2.0`);
  t.is(response.body.token_endpoint, `${authority}/oauth2/v2.0/token`);
  t.is(response.body.authorization_endpoint, `${authority}/oauth2/v2.0/authorize`);
  t.is(response.body.jwks_uri, `${authority}/discovery/v2.0/keys`);
});

test("client credentials give an RS256 app token with the granted permissions as roles, verifiable with the JWKS", async (t) => {
  const { emulator } = await setup;
  const token = await appToken(emulator);
  const app = emulator.control.app();
  const claims = decodeJwt(token);
  t.is(claims.aud, "https://graph.microsoft.com");
  t.is(claims.tid, emulator.tenantId);
  t.is(claims.appid, app.clientId);
  t.is(claims.azp, app.clientId);
  t.is(claims.idtyp, "app");
  t.deepEqual(claims.roles, [
    "Calendars.ReadWrite",
    "Channel.Create",
    "Channel.ReadBasic.All",
    "Mail.Send",
    "MailboxSettings.Read",
    "Team.Create",
    "Team.ReadBasic.All",
    "TeamMember.ReadWriteNonOwnerRole.All",
    "TeamsActivity.Send",
    "TeamsAppInstallation.ReadWriteSelfForUser.All",
    "User-LifeCycleInfo.Read.All",
    "User.Read.All",
  ]);
  const header = decodeProtectedHeader(token);
  t.is(header.alg, "RS256");
  const keys = await request(emulator, `/${emulator.tenantId}/discovery/v2.0/keys`);
  const jwk = keys.body.keys.find((key: { kid: string }) => key.kid === header.kid);
  t.truthy(jwk);
  await t.notThrowsAsync(jwtVerify(token, await importJWK(jwk, "RS256")));
});

test("errors use Entra's OAuth format", async (t) => {
  const { emulator } = await setup;
  const app = emulator.control.app();
  const post = (form: Record<string, string>, tenant = emulator.tenantId) =>
    request(emulator, `/${tenant}/oauth2/v2.0/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(form).toString(),
    });
  const scope = "https://graph.microsoft.com/.default";
  const badSecret = await post({
    grant_type: "client_credentials",
    client_id: app.clientId,
    client_secret: "wrong",
    scope,
  });
  t.is(badSecret.status, 401);
  t.is(badSecret.body.error, "invalid_client");
  t.deepEqual(badSecret.body.error_codes, [7000215]);
  t.regex(badSecret.body.error_description, /^AADSTS7000215: /);
  t.truthy(badSecret.body.trace_id && badSecret.body.correlation_id && badSecret.body.timestamp);

  const unknownApp = await post({
    grant_type: "client_credentials",
    client_id: "00000000-0000-0000-0000-000000000001",
    client_secret: "x",
    scope,
  });
  t.is(unknownApp.status, 400);
  t.is(unknownApp.body.error, "unauthorized_client");
  t.regex(unknownApp.body.error_description, /^AADSTS700016: /);

  const badScope = await post({
    grant_type: "client_credentials",
    client_id: app.clientId,
    client_secret: app.clientSecret,
    scope: "User.Read.All",
  });
  t.is(badScope.body.error, "invalid_scope");

  const badGrant = await post({ grant_type: "password", client_id: app.clientId });
  t.is(badGrant.body.error, "unsupported_grant_type");

  const unknownTenant = await post(
    { grant_type: "client_credentials", client_id: app.clientId, client_secret: app.clientSecret, scope },
    "nope.example",
  );
  t.is(unknownTenant.status, 400);
  t.regex(unknownTenant.body.error_description, /^AADSTS90002: /);
});

test("the tenant's domain works as the tenant segment too", async (t) => {
  const { emulator } = await setup;
  const response = await request(emulator, `/${emulator.control.tenant.domain}/v2.0/.well-known/openid-configuration`);
  t.is(response.status, 200);
});

test("@azure/identity ClientSecretCredential gets a token, trusting the CA through NODE_EXTRA_CA_CERTS", async (t) => {
  const { emulator } = await setup;
  const result = await runFixture("identity-token.ts", emulator);
  t.falsy(result.error);
  const claims = decodeJwt(result.token);
  t.is(claims.appid, emulator.control.app().clientId);
  t.true(result.expiresOnTimestamp > Date.now());

  const refused = await runFixture("identity-token.ts", emulator, { SECRET_OVERRIDE: "not-the-secret" });
  t.regex(refused.error, /AADSTS7000215|invalid_client/);
});
