// Graceful shutdown: SIGTERM lets in-flight requests finish before the node goes.
import path from "node:path";
import { createTestEnvironment, spawnNode, startBroker, waitFor } from "@hearth/testkit";
import test from "ava";

test("a node stopped with SIGTERM finishes its in-flight requests, then exits cleanly", async (t) => {
  const env = await createTestEnvironment({ database: "none", env: { REQUEST_TIMEOUT_MS: "10000" } });
  t.teardown(() => env.cleanup());
  const node = spawnNode({
    env: env.env,
    serviceModules: [path.join(import.meta.dirname, "fixtures/slow.service.ts")],
  });
  t.teardown(() => node.kill());
  await node.ready;
  const caller = await startBroker(env.config, []);
  t.teardown(() => caller.stop());
  await waitFor("the slow service", async () => caller.registry.hasService("slow", node.nodeID), Boolean, 15_000);

  const started = Date.now();
  const inFlight = Promise.all([1, 2, 3].map(() => caller.call("slow.work", { ms: 1500 })));
  await new Promise((r) => setTimeout(r, 300));
  node.process.kill("SIGTERM");
  const results = (await inFlight) as Array<{ finishedAt: number }>;
  t.is(results.length, 3);
  t.true(results.every((r) => r.finishedAt - started >= 1500));
  t.is(await node.exited, 0);
});
