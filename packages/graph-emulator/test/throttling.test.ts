import test from "ava";
import { MICROSOFT_LIMITS } from "../src/index.ts";
import { request, startForTest } from "./helpers/emulator.ts";

test("Microsoft's published numbers are the defaults", (t) => {
  t.deepEqual(MICROSOFT_LIMITS.identity, { limit: 8000, windowSeconds: 10 });
  t.deepEqual(MICROSOFT_LIMITS.outlook, { limit: 10_000, windowSeconds: 600, concurrent: 4 });
  t.is(MICROSOFT_LIMITS.teamsBulkActivityNotification.limit, 2);
});

test("identity: resource units per app + tenant, 2 for GET users and 1 with $select; 429 with a scaled Retry-After, then admitted again", async (t) => {
  const { emulator, token } = await startForTest({
    tenant: { users: 10, seed: 1 },
    throttling: { identity: { limit: 5, windowSeconds: 10 } },
    timeScale: 2,
  });
  t.teardown(() => emulator.close());
  const plain = await request(emulator, "/v1.0/users", { token });
  t.is(plain.headers["x-ms-resource-unit"], "2");
  const selected = await request(emulator, "/v1.0/users?$select=id", { token });
  t.is(selected.headers["x-ms-resource-unit"], "1");
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 200);
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).headers["x-ms-throttle-limit-percentage"], "1");
  const throttled = await request(emulator, "/v1.0/users?$select=id", { token });
  t.is(throttled.status, 429);
  t.is(throttled.body.error.code, "TooManyRequests");
  const retryAfter = Number(throttled.headers["retry-after"]);
  // 10 s / timeScale 2 = a 5 s window.
  t.true(retryAfter > 0 && retryAfter <= 5, String(retryAfter));
  await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 5));
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 200);
});

test("outlook: counted per mailbox, so one busy mailbox does not throttle another", async (t) => {
  const { emulator, token } = await startForTest({
    tenant: { users: 10, seed: 1 },
    throttling: { outlook: { limit: 2, windowSeconds: 600, concurrent: 4 } },
    timeScale: 1,
  });
  t.teardown(() => emulator.close());
  const [a, b] = emulator.control.tenant.records.filter((record) => record.mailbox).map((record) => record.data.id);
  for (let i = 0; i < 2; i++)
    t.is((await request(emulator, `/v1.0/users/${a}/mailboxSettings`, { token })).status, 200);
  const throttled = await request(emulator, `/v1.0/users/${a}/mailboxSettings`, { token });
  t.is(throttled.status, 429);
  t.true(Number(throttled.headers["retry-after"]) > 590);
  t.is((await request(emulator, `/v1.0/users/${b}/mailboxSettings`, { token })).status, 200);
  // The 429s are counted per class (benchmarks report them).
  t.deepEqual(emulator.control.throttled(), { outlook: 1 });
});

test("throttling can be switched off and on at run time", async (t) => {
  const { emulator, token } = await startForTest({
    tenant: { users: 5, seed: 1 },
    throttling: { identity: { limit: 1, windowSeconds: 600 } },
  });
  t.teardown(() => emulator.close());
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 200);
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 429);
  emulator.control.setThrottling(false);
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 200);
  emulator.control.setThrottling(true);
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 200);
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 429);
});

test("outlook: at most 4 concurrent requests per mailbox; the fifth gets 429 ApplicationThrottled", async (t) => {
  const { emulator, token } = await startForTest({
    tenant: { users: 10, seed: 1 },
    throttling: true,
    latencyMs: { outlook: 1500 },
  });
  t.teardown(() => emulator.close());
  const [a, b] = emulator.control.tenant.records.filter((record) => record.mailbox).map((record) => record.data.id);
  const responses = await Promise.all([
    ...Array.from({ length: 6 }, () => request(emulator, `/v1.0/users/${a}/mailboxSettings`, { token })),
    request(emulator, `/v1.0/users/${b}/mailboxSettings`, { token }),
  ]);
  const forA = responses
    .slice(0, 6)
    .map((response) => response.status)
    .sort();
  t.deepEqual(forA, [200, 200, 200, 200, 429, 429]);
  const refused = responses.find((response) => response.status === 429)!;
  t.is(refused.body.error.code, "ApplicationThrottled");
  t.truthy(refused.headers["retry-after"]);
  t.is(responses[6]!.status, 200);
  t.is((await request(emulator, `/v1.0/users/${a}/mailboxSettings`, { token })).status, 200);
});
