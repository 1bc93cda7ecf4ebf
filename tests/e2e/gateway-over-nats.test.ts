// Through the gateway, over NATS, to a service in another process — and what a caller sees when that process dies.
import path from "node:path";
import { loadOrCreateDevIssuer } from "@hearth/platform";
import { createTestEnvironment, freePort, spawnNode } from "@hearth/testkit";
import test from "ava";

const FIXTURES = path.join(import.meta.dirname, "../bench/fixtures");

async function untilStatus(url: string, headers: Record<string, string>, status: number, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(url, { headers }).catch(() => undefined);
    if (res?.status === status) return res;
    if (Date.now() > deadline) throw new Error(`${url} never answered ${status} (last: ${res?.status})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a request crosses gateway → NATS → service process; when the service dies, callers get a prompt 503", async (t) => {
  const env = await createTestEnvironment({ database: "none", env: { REQUEST_TIMEOUT_MS: "2000" } });
  t.teardown(() => env.cleanup());
  const port = await freePort();
  const gateway = spawnNode({
    env: { ...env.env, PORT: String(port) },
    serviceModules: [path.join(FIXTURES, "hearth-gateway.ts")],
  });
  const service = spawnNode({ env: env.env, serviceModules: [path.join(FIXTURES, "bench-echo.service.ts")] });
  t.teardown(() => Promise.all([gateway.kill(), service.kill()]).then(() => undefined));
  await Promise.all([gateway.ready, service.ready]);

  if (env.config.auth.kind !== "development") throw new Error("needs the development issuer");
  const issuer = await loadOrCreateDevIssuer({ dir: env.config.auth.keyDir });
  const headers = { authorization: `Bearer ${await issuer.signAccessToken({ upn: "e2e@contoso.example" })}` };
  const url = `http://127.0.0.1:${port}/api/v1/bench/echo?n=7`;

  const ok = await untilStatus(url, headers, 200);
  t.is(((await ok.json()) as { n: number }).n, 7);
  // Validation happens on the service's node and comes back through NATS as a 422 naming the field.
  const bad = await fetch(`http://127.0.0.1:${port}/api/v1/bench/echo?n=seven`, { headers });
  t.is(bad.status, 422);
  t.is(((await bad.json()) as { error: { fields: Array<{ field: string }> } }).error.fields[0]!.field, "n");

  await service.kill();
  const started = Date.now();
  const down = await fetch(url, { headers });
  t.is(down.status, 503);
  t.truthy(down.headers.get("retry-after"));
  // Four attempts of a quarter of the 2 s timeout each, plus backoff (0.7 s): about 2.7 s, never 4 × 2 s or a hang.
  t.true(Date.now() - started < 4_000, `took ${Date.now() - started} ms`);
});
