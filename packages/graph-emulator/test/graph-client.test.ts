import test from "ava";
import { runFixture, startForTest } from "./helpers/emulator.ts";

test("@microsoft/microsoft-graph-client 3.0.7 with @azure/identity pages users and delta through the emulator's absolute https links", async (t) => {
  const { emulator } = await startForTest({ tenant: { users: 45, seed: 21 }, deltaPageSize: 10 });
  t.teardown(() => emulator.close());
  const result = await runFixture("graph-client-paging.ts", emulator);
  t.is(result.ids.length, 45);
  t.is(new Set(result.ids).size, 45);
  t.is(result.pages, Math.ceil(45 / 7));
  t.is(result.deltaCount, 45);
  t.true(result.deltaLink.startsWith(`${emulator.url}/v1.0/users/delta?$deltatoken=`));
  t.is(result.second.id, result.ids[1]);
});

test("the SDK's RetryHandler honours the emulator's 429 Retry-After (decimal seconds) and still reads everything", async (t) => {
  const { emulator } = await startForTest({
    tenant: { users: 45, seed: 22 },
    deltaPageSize: 10,
    // 4 units per 10 s window, scaled to 2 s: 13 reads must be throttled at least once even on a loaded machine.
    throttling: { identity: { limit: 4, windowSeconds: 10 } },
    timeScale: 5,
  });
  t.teardown(() => emulator.close());
  const result = await runFixture("graph-client-paging.ts", emulator);
  t.is(result.ids.length, 45);
  t.is(result.deltaCount, 45);
  const throttled = result.throttledSeen ?? 0;
  t.log(`requests the SDK retried after 429: ${throttled}`);
  t.true(throttled > 0);
});
