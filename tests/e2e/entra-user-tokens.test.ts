// The gateway with the Graph emulator as its Entra ID: user tokens the emulator signs are accepted (issuer, audience,
// tenant, signature from the JWKS over HTTPS with the emulator's CA); expired, foreign or tampered ones are not.
import https from "node:https";
import path from "node:path";
import { m365ClientEnv, startGraphEmulator, userTokenIssuer } from "@hearth/graph-emulator";
import { createTestEnvironment, freePort, spawnNode } from "@hearth/testkit";
import test from "ava";

const GATEWAY = path.join(import.meta.dirname, "../bench/fixtures/hearth-gateway.ts");
const AUDIENCE = "api://hearth-e2e";

test("gateway ← Entra (emulated): a signed-in person's token works; expired, other audience, tampered: 401", async (t) => {
  const emulator = await startGraphEmulator({ port: 0, tenant: { users: 20, seed: "hearth-user-tokens" } });
  t.teardown(() => emulator.close());
  const env = await createTestEnvironment({ database: "none", nats: false });
  t.teardown(() => env.cleanup());
  const port = await freePort();
  const gateway = spawnNode({
    env: {
      ...env.env,
      PORT: String(port),
      NODE_EXTRA_CA_CERTS: m365ClientEnv(emulator).NODE_EXTRA_CA_CERTS!,
      AUTH_ISSUER: userTokenIssuer(emulator.url, emulator.tenantId),
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_TENANT_ID: emulator.tenantId,
      AUTH_JWKS_URL: `${emulator.url}/${emulator.tenantId}/discovery/v2.0/keys`,
    },
    serviceModules: [GATEWAY],
  });
  t.teardown(() => gateway.stop());
  await gateway.ready;
  const person = emulator.control.tenant.records[3]!.data;
  const me = (token: string) =>
    fetch(`http://127.0.0.1:${port}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });

  const ok = await me(await emulator.userToken({ user: person.userPrincipalName, audience: AUDIENCE, roles: ["HR"] }));
  t.is(ok.status, 200);
  t.like(await ok.json(), { upn: person.userPrincipalName, objectId: person.id });

  const expired = await emulator.userToken({ user: person.id, audience: AUDIENCE, lifetimeSeconds: -120 });
  t.is((await me(expired)).status, 401);
  t.is((await me(await emulator.userToken({ user: person.id, audience: "api://someone-else" }))).status, 401);
  const genuine = await emulator.userToken({ user: person.id, audience: AUDIENCE });
  const [header, payload, signature] = genuine.split(".");
  const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
  const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, roles: ["Admin"] })).toString("base64url")}.${signature}`;
  t.is((await me(forged)).status, 401);

  // The same over the control API, for other processes (the demo, scripts), trusting the emulator's CA.
  const viaControl = await new Promise<string>((resolve, reject) => {
    const request = https.request(
      `${emulator.url}/_emulator/users/${person.id}/token`,
      { method: "POST", ca: emulator.caPem, headers: { "content-type": "application/json" } },
      (response) => {
        let text = "";
        response.on("data", (chunk) => (text += chunk));
        response.on("end", () => resolve((JSON.parse(text) as { access_token: string }).access_token));
      },
    );
    request.on("error", reject);
    request.end(JSON.stringify({ audience: AUDIENCE, roles: ["Employee"] }));
  });
  t.is((await me(viaControl)).status, 200);
});
