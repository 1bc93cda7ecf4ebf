import { createHmac, createPublicKey, randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import test, { type ExecutionContext } from "ava";
import { decodeJwt, generateKeyPair, SignJWT } from "jose";
import {
  createDevIssuerInMemory,
  createTokenVerifier,
  DEV_AUDIENCE,
  DEV_TENANT_ID,
  type DevIssuer,
  demoUserObjectId,
  entraIssuer,
  KeySetUnavailableError,
  TokenRejectedError,
  type TokenRejectionReason,
  type TokenVerifierOptions,
} from "../../src/auth/index.ts";
import { type JwksServer, startJwksServer, unusedUrl } from "./jwks-server.ts";

const OTHER_TENANT_ID = "0b5e2f4a-9c3d-4e8f-a1b2-c3d4e5f60718";
const UPN = "ada.lovelace@contoso.example";

type Setup = { issuer: DevIssuer; jwks: JwksServer; verifier: ReturnType<typeof createTokenVerifier> };

async function setup(t: ExecutionContext, options: Partial<TokenVerifierOptions> = {}): Promise<Setup> {
  const issuer = await createDevIssuerInMemory();
  const jwks = await startJwksServer(t, issuer.jwks());
  const verifier = createTokenVerifier({
    jwksUrl: jwks.url,
    issuer: issuer.issuer,
    audience: issuer.audience,
    tenantId: issuer.tenantId,
    // These tests are about verification itself: tokens signed in the same second are byte-identical (RS256 is
    // deterministic) and would be answered from memory. The test of remembering turns it back on.
    verifiedCacheMs: 0,
    ...options,
  });
  return { issuer, jwks, verifier };
}

async function rejectionReason(t: ExecutionContext, verifying: Promise<unknown>): Promise<TokenRejectionReason> {
  const error = await t.throwsAsync(verifying, { instanceOf: TokenRejectedError });
  return error!.reason;
}

function base64url(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

function decodeSegment(segment: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
}

/** Signs with a key the verifier has never seen, under the given key id. */
async function signWithStrangerKey(claims: Record<string, unknown>, kid: string): Promise<string> {
  const { privateKey } = await generateKeyPair("RS256");
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT", kid }).sign(privateKey);
}

async function junkKidTokens(issuer: DevIssuer, count: number): Promise<string[]> {
  const { privateKey } = await generateKeyPair("RS256");
  const claims = decodeJwt(await issuer.signAccessToken({ upn: UPN }));
  return Promise.all(
    Array.from({ length: count }, () =>
      new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: randomUUID() }).sign(privateKey),
    ),
  );
}

test("a genuine token yields the caller: tenant, object id, known roles plus Employee, name and upn", async (t) => {
  const { issuer, jwks, verifier } = await setup(t);
  const token = await issuer.signAccessToken({
    upn: UPN,
    name: "Ada Lovelace",
    roles: ["Admin", "HR"],
    extraClaims: { roles: ["Admin", "HR", "Overlord", 42] },
  });

  const caller = await verifier.verify(token);

  t.deepEqual(caller, {
    tenantId: DEV_TENANT_ID,
    objectId: demoUserObjectId(UPN),
    roles: ["Employee", "HR", "Admin"],
    name: "Ada Lovelace",
    upn: UPN,
  });
  await verifier.verify(token);
  t.is(jwks.fetches(), 1, "the key set is fetched once and then cached");
});

test("a token without roles makes the caller an Employee", async (t) => {
  const { issuer, verifier } = await setup(t);
  const caller = await verifier.verify(await issuer.signAccessToken({ upn: UPN }));
  t.deepEqual(caller.roles, ["Employee"]);
  t.is(caller.name, undefined);
});

test("an expired token is rejected; one expired within the clock tolerance is not", async (t) => {
  const { issuer, verifier } = await setup(t);
  t.is(
    await rejectionReason(t, verifier.verify(await issuer.signAccessToken({ upn: UPN, expiresInSeconds: -120 }))),
    "expired",
  );
  const justExpired = await issuer.signAccessToken({ upn: UPN, expiresInSeconds: -5 });
  t.is((await verifier.verify(justExpired)).objectId, demoUserObjectId(UPN));
});

test("a token that is not valid yet (nbf in the future) is rejected", async (t) => {
  const { issuer, verifier } = await setup(t);
  const token = await issuer.signAccessToken({ upn: UPN, notBefore: new Date(Date.now() + 10 * 60_000) });
  t.is(await rejectionReason(t, verifier.verify(token)), "not_yet_valid");
});

test("a token for another API is rejected", async (t) => {
  const { issuer, verifier } = await setup(t);
  const token = await issuer.signAccessToken({ upn: UPN, audience: "api://someone-else" });
  t.is(await rejectionReason(t, verifier.verify(token)), "bad_audience");
});

test("a token for Microsoft Graph is rejected, also when it names Hearth too", async (t) => {
  const { issuer, verifier } = await setup(t);
  for (const audience of [
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
    "00000003-0000-0000-c000-000000000000",
    [DEV_AUDIENCE, "https://graph.microsoft.com"],
    ["00000003-0000-0000-C000-000000000000", DEV_AUDIENCE],
  ]) {
    const token = await issuer.signAccessToken({ upn: UPN, audience });
    t.is(await rejectionReason(t, verifier.verify(token)), "bad_audience", JSON.stringify(audience));
  }
});

test("a verifier configured with Microsoft Graph as its audience refuses to exist", (t) => {
  for (const audience of ["https://graph.microsoft.com", [DEV_AUDIENCE, "00000003-0000-0000-c000-000000000000"]]) {
    t.throws(() =>
      createTokenVerifier({
        jwksUrl: "http://127.0.0.1:1/keys",
        issuer: entraIssuer(DEV_TENANT_ID),
        audience,
        tenantId: DEV_TENANT_ID,
      }),
    );
  }
});

test("a token from another issuer is rejected", async (t) => {
  const { issuer, verifier } = await setup(t);
  for (const iss of [
    `https://sts.windows.net/${DEV_TENANT_ID}/`,
    `${entraIssuer(DEV_TENANT_ID)}/`,
    "https://evil.example/v2.0",
  ]) {
    const token = await issuer.signAccessToken({ upn: UPN, extraClaims: { iss } });
    t.is(await rejectionReason(t, verifier.verify(token)), "bad_issuer", iss);
  }
});

test("a token of another tenant is rejected, whether its issuer names that tenant or ours", async (t) => {
  const { issuer, verifier } = await setup(t);
  const theirs = await issuer.signAccessToken({
    upn: UPN,
    extraClaims: { tid: OTHER_TENANT_ID, iss: entraIssuer(OTHER_TENANT_ID) },
  });
  const mixed = await issuer.signAccessToken({ upn: UPN, extraClaims: { tid: OTHER_TENANT_ID } });
  t.is(await rejectionReason(t, verifier.verify(theirs)), "bad_tenant");
  t.is(await rejectionReason(t, verifier.verify(mixed)), "bad_tenant");
});

test("an unsigned token (alg none) is rejected without touching the key set", async (t) => {
  const { issuer, jwks, verifier } = await setup(t);
  const payload = decodeJwt(await issuer.signAccessToken({ upn: UPN, roles: ["Admin"] }));
  for (const alg of ["none", "None", "NONE"]) {
    const token = `${base64url({ alg, typ: "JWT", kid: issuer.kid })}.${base64url(payload)}.`;
    t.is(await rejectionReason(t, verifier.verify(token)), "bad_algorithm", alg);
  }
  t.is(jwks.fetches(), 0);
});

test("an HS256 token keyed with the public key (key confusion) is rejected", async (t) => {
  const { issuer, jwks, verifier } = await setup(t);
  const publicJwk = issuer.jwks().keys[0]!;
  const publicPem = createPublicKey({ key: publicJwk as never, format: "jwk" }).export({ type: "spki", format: "pem" });
  const payload = decodeJwt(await issuer.signAccessToken({ upn: UPN, roles: ["Admin"] }));
  const signingInput = `${base64url({ alg: "HS256", typ: "JWT", kid: issuer.kid })}.${base64url(payload)}`;
  for (const secret of [publicPem, JSON.stringify(publicJwk), Buffer.from(publicJwk.n!, "base64url")]) {
    const token = `${signingInput}.${createHmac("sha256", secret).update(signingInput).digest("base64url")}`;
    t.is(await rejectionReason(t, verifier.verify(token)), "bad_algorithm");
  }
  t.is(jwks.fetches(), 0);
});

test("a token signed by a key that is not in the key set is rejected", async (t) => {
  const { issuer, verifier } = await setup(t);
  const stranger = await createDevIssuerInMemory();
  t.not(stranger.kid, issuer.kid);
  t.is(await rejectionReason(t, verifier.verify(await stranger.signAccessToken({ upn: UPN }))), "unknown_key");
});

test("a token whose payload was changed after signing is rejected", async (t) => {
  const { issuer, verifier } = await setup(t);
  const [header, payload, signature] = (await issuer.signAccessToken({ upn: UPN })).split(".");
  const promoted = base64url({ ...decodeSegment(payload!), roles: ["Admin"] });
  t.is(await rejectionReason(t, verifier.verify(`${header}.${promoted}.${signature}`)), "bad_signature");
});

test("malformed strings are rejected without touching the key set", async (t) => {
  const { issuer, jwks, verifier } = await setup(t);
  const genuine = await issuer.signAccessToken({ upn: UPN });
  for (const token of ["abc", "", "...", "a.b.c", "a.b", `${genuine}.`, `Bearer ${genuine}`, "x".repeat(20_000)]) {
    t.is(await rejectionReason(t, verifier.verify(token)), "malformed", token.slice(0, 20));
  }
  t.is(jwks.fetches(), 0);
});

test("tokens lacking a required claim are rejected", async (t) => {
  const { issuer, verifier } = await setup(t);
  for (const extraClaims of [
    { exp: undefined },
    { tid: undefined },
    { oid: undefined },
    { oid: "not-a-guid" },
    { ver: undefined },
    { ver: "1.0" },
  ]) {
    const token = await issuer.signAccessToken({ upn: UPN, extraClaims });
    t.is(await rejectionReason(t, verifier.verify(token)), "missing_claim", JSON.stringify(extraClaims));
  }
});

test("rejections do not repeat the token or its claims", async (t) => {
  const { issuer, verifier } = await setup(t);
  const token = await issuer.signAccessToken({ upn: UPN, name: "Ada Lovelace", expiresInSeconds: -3600 });
  const error = await t.throwsAsync(verifier.verify(token), { instanceOf: TokenRejectedError });
  const [, payload, signature] = token.split(".");
  const shown = `${error!.message} ${error!.stack} ${JSON.stringify(error)} ${String(error!.cause)}`;
  for (const secret of [payload!, signature!, UPN, "Ada Lovelace", demoUserObjectId(UPN)]) {
    t.false(shown.includes(secret), secret.slice(0, 20));
  }
});

test("200 concurrent tokens with junk key ids cause one key set fetch on a cold verifier", async (t) => {
  const { issuer, jwks, verifier } = await setup(t);
  const tokens = await junkKidTokens(issuer, 200);
  const reasons = await Promise.all(tokens.map((token) => rejectionReason(t, verifier.verify(token))));
  t.true(reasons.every((reason) => reason === "unknown_key"));
  t.is(jwks.fetches(), 1);
  t.truthy(await verifier.verify(await issuer.signAccessToken({ upn: UPN })), "the fetched keys still serve");
  t.is(jwks.fetches(), 1);
});

test("junk key ids cause at most one refetch per cooldown", async (t) => {
  // A cooldown long enough that both waves fall inside it on a loaded machine; the tokens are signed beforehand.
  const { issuer, jwks, verifier } = await setup(t, { jwksCooldownMs: 2_000 });
  const waves = [await junkKidTokens(issuer, 200), await junkKidTokens(issuer, 200)];
  await verifier.verify(await issuer.signAccessToken({ upn: UPN }));
  await sleep(2_100);
  for (const tokens of waves) {
    const reasons = await Promise.all(tokens.map((token) => rejectionReason(t, verifier.verify(token))));
    t.true(reasons.every((reason) => reason === "unknown_key"));
  }
  t.true(jwks.fetches() <= 2, `fetches: ${jwks.fetches()}`);
  t.is(jwks.fetches(), 2, "the initial fetch plus one refresh after the cooldown");
});

test("a rotated key is picked up once the cooldown has passed", async (t) => {
  const { issuer: before, jwks, verifier } = await setup(t, { jwksCooldownMs: 1_000 });
  const after = await createDevIssuerInMemory();
  await verifier.verify(await before.signAccessToken({ upn: UPN }));

  jwks.serve(after.jwks());
  const rotated = await after.signAccessToken({ upn: UPN, roles: ["HR"] });
  t.is(await rejectionReason(t, verifier.verify(rotated)), "unknown_key", "still cooling down");
  await sleep(1_100);

  t.deepEqual((await verifier.verify(rotated)).roles, ["Employee", "HR"]);
  t.is(jwks.fetches(), 2);
  const retired = await before.signAccessToken({ upn: UPN });
  t.is(await rejectionReason(t, verifier.verify(retired)), "unknown_key", "the retired key is gone");
});

test("cached keys keep verifying while the key set endpoint is down, even past their max age", async (t) => {
  const { issuer, jwks, verifier } = await setup(t, { jwksCacheMaxAgeMs: 200, jwksCooldownMs: 200 });
  await verifier.verify(await issuer.signAccessToken({ upn: UPN }));
  await jwks.stop();

  const caller = await verifier.verify(await issuer.signAccessToken({ upn: "grace.hopper@contoso.example" }));
  t.is(caller.objectId, demoUserObjectId("grace.hopper@contoso.example"));
  await sleep(300);
  t.is((await verifier.verify(await issuer.signAccessToken({ upn: UPN }))).objectId, demoUserObjectId(UPN));

  const stranger = await signWithStrangerKey(decodeJwt(await issuer.signAccessToken({ upn: UPN })), "stranger");
  t.is(await rejectionReason(t, verifier.verify(stranger)), "unknown_key");
});

test("a black-holed key set endpoint costs one timeout per cooldown, then cached keys answer at once", async (t) => {
  const { issuer, jwks, verifier } = await setup(t, {
    jwksCacheMaxAgeMs: 100,
    jwksTimeoutMs: 1_000,
    jwksCooldownMs: 10_000,
  });
  await verifier.verify(await issuer.signAccessToken({ upn: UPN }));
  jwks.hang();
  await sleep(150);

  const token = await issuer.signAccessToken({ upn: UPN });
  t.truthy(await verifier.verify(token));
  t.is(jwks.fetches(), 2, "one attempt timed out");
  const started = performance.now();
  await Promise.all(Array.from({ length: 20 }, () => verifier.verify(token)));
  t.true(performance.now() - started < 600, "no further waits for the timeout");
  t.is(jwks.fetches(), 2);
});

test("without any fetched keys an unreachable endpoint is an outage, not a rejection", async (t) => {
  const issuer = await createDevIssuerInMemory();
  const verifier = createTokenVerifier({
    jwksUrl: await unusedUrl(),
    issuer: issuer.issuer,
    audience: issuer.audience,
    tenantId: issuer.tenantId,
  });
  await t.throwsAsync(verifier.verify(await issuer.signAccessToken({ upn: UPN })), {
    instanceOf: KeySetUnavailableError,
  });
});

test("keys older than the last-known-good limit are not used during an outage", async (t) => {
  const { issuer, jwks, verifier } = await setup(t, { jwksCacheMaxAgeMs: 100, jwksLastKnownGoodMaxAgeMs: 300 });
  await verifier.verify(await issuer.signAccessToken({ upn: UPN }));
  await jwks.stop();
  await sleep(400);
  await t.throwsAsync(verifier.verify(await issuer.signAccessToken({ upn: UPN })), {
    instanceOf: KeySetUnavailableError,
  });
});

test("a configured list of audiences accepts any of them", async (t) => {
  const { issuer, verifier } = await setup(t, { audience: ["api://hearth-other", DEV_AUDIENCE] });
  const token = await issuer.signAccessToken({ upn: UPN, audience: "api://hearth-other" });
  t.is((await verifier.verify(token)).tenantId, DEV_TENANT_ID);
});

test("a remembered verification ends at the token's own expiry, and a tampered copy is never served from memory", async (t) => {
  const { issuer, jwks, verifier } = await setup(t, { clockToleranceSeconds: 0, verifiedCacheMs: 60_000 });
  const token = await issuer.signAccessToken({ upn: UPN, expiresInSeconds: 2 });
  t.is((await verifier.verify(token)).upn, UPN);
  await jwks.stop();
  // Remembered: answered without the key set.
  t.is((await verifier.verify(token)).upn, UPN);
  const [header, payload, signature] = token.split(".");
  const elevated = Buffer.from(JSON.stringify({ ...decodeJwt(token), roles: ["Admin"] })).toString("base64url");
  t.is(await rejectionReason(t, verifier.verify(`${header}.${elevated}.${signature}`)), "bad_signature");
  t.not(payload, elevated);
  await sleep(2300);
  t.is(await rejectionReason(t, verifier.verify(token)), "expired");
});
