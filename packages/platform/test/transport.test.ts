// Request/response between real processes over NATS: calls both ways, timeouts against a frozen or dead node,
// and retries only for actions whose contract says they are idempotent (the policy must survive the registry,
// since the caller only knows the remote action from the other node's INFO packet).
import path from "node:path";
import {
  type ChildNode,
  createTestEnvironment,
  spawnNode,
  startBroker,
  type TestEnvironment,
  waitFor,
} from "@hearth/testkit";
import test, { type ExecutionContext } from "ava";
import type moleculer from "moleculer";

const ECHO = path.join(import.meta.dirname, "fixtures/echo/echo.service.ts");

/** Hosted by the test's own broker, so the child node can call back into this process. */
const probe = {
  name: "probe",
  actions: {
    ping(this: moleculer.Service, ctx: moleculer.Context<{ text: string }>) {
      return { pong: ctx.params.text, nodeID: this.broker.nodeID };
    },
  },
} satisfies moleculer.ServiceSchema;

/** A broker here (hosting probe) and a child process hosting echo, each knowing the other's services. */
async function twoNodes(t: ExecutionContext, env: Record<string, string> = {}) {
  const environment: TestEnvironment = await createTestEnvironment({ database: "none", env });
  t.teardown(() => environment.cleanup());
  const child: ChildNode = spawnNode({ env: environment.env, serviceModules: [ECHO] });
  t.teardown(async () => {
    // A test may leave it frozen: wake it so the kill is not queued behind SIGSTOP (SIGKILL works anyway).
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill("SIGCONT");
    await child.kill();
  });
  const broker = await startBroker(environment.config, [probe]);
  let stopping: Promise<void> | undefined;
  const stopBroker = () => {
    stopping ??= broker.stop();
    return stopping;
  };
  t.teardown(stopBroker);
  await child.ready;
  await broker.waitForServices(["echo"], 30_000);
  return { broker, child, stopBroker };
}

/** Timed-out remote calls must not leave contexts behind that hold up a graceful stop (tracking waits 10 s). */
async function assertStopsPromptly(t: ExecutionContext, stopBroker: () => Promise<void>) {
  const stop = await timed(stopBroker);
  t.is(stop.error, undefined);
  t.true(stop.ms < 5000, `graceful stop took ${stop.ms} ms: a timed-out call is still tracked`);
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; error?: any; value?: T }> {
  const started = Date.now();
  try {
    const value = await work();
    return { ms: Date.now() - started, value };
  } catch (error) {
    return { ms: Date.now() - started, error };
  }
}

test("two processes call each other's actions over NATS", async (t) => {
  const { broker, child } = await twoNodes(t);

  const answer = await broker.call("echo.say", { text: "hello" });
  t.deepEqual(answer, { text: "hello", nodeID: child.nodeID });

  // echo.relay runs in the child and calls probe.ping, which only this process hosts. The child learns about
  // probe from this broker's INFO, which may arrive a moment after ours reached it: poll until it has.
  const relayed = await waitFor(
    "the child to call back probe.ping",
    () => broker.call("echo.relay", { text: "round trip" }) as Promise<any>,
    (r) => !!r,
  );
  t.deepEqual(relayed, { echoNodeID: child.nodeID, probe: { pong: "round trip", nodeID: broker.nodeID } });
  t.not(child.nodeID, broker.nodeID);
});

test("a call to a frozen node times out within REQUEST_TIMEOUT_MS, and so does one to a killed node", async (t) => {
  const { broker, child, stopBroker } = await twoNodes(t, { REQUEST_TIMEOUT_MS: "1000" });
  t.deepEqual(await broker.call("echo.say", { text: "alive" }), { text: "alive", nodeID: child.nodeID });

  child.process.kill("SIGSTOP");
  const frozen = await timed(() => broker.call("echo.say", { text: "are you there?" }));
  t.truthy(frozen.error, "the call to a frozen node must fail");
  t.is(frozen.error?.name, "RequestTimeoutError");
  t.is(frozen.error?.type, "REQUEST_TIMEOUT");
  t.true(frozen.ms >= 900, `failed after ${frozen.ms} ms: sooner than the timeout, so not by it`);
  t.true(frozen.ms <= 5000, `failed only after ${frozen.ms} ms`);

  await child.kill();
  t.is(await child.exited, "SIGKILL");
  // The registry still lists the dead node until its heartbeat times out: the call must time out, not hang.
  const dead = await timed(() => broker.call("echo.say", { text: "and now?" }));
  t.truthy(dead.error, "the call to a killed node must fail");
  t.true(
    ["RequestTimeoutError", "ServiceNotAvailableError"].includes(dead.error?.name),
    `unexpected ${dead.error?.name}: ${dead.error?.message}`,
  );
  t.true(dead.ms <= 5000, `failed only after ${dead.ms} ms`);
  await assertStopsPromptly(t, stopBroker);
});

test("only idempotent actions are retried after a timeout, across processes", async (t) => {
  const { broker, child, stopBroker } = await twoNodes(t, { REQUEST_TIMEOUT_MS: "1000" });

  // The caller knows the remote actions only from the child's INFO packet: the policy must have travelled.
  const remote = broker.registry.getActionList({ skipInternal: true, withEndpoints: true }) as any[];
  const policyOf = (name: string) => remote.find((a) => a.name === name)?.action?.retryPolicy;
  t.deepEqual(policyOf("echo.slowIdempotent"), { enabled: true });
  t.deepEqual(policyOf("echo.slowOnce"), { enabled: false });

  // First invocation hangs past the timeout; the retry runs it a second time, which answers at once.
  const idempotent = await timed(() => broker.call("echo.slowIdempotent", {}));
  t.is(idempotent.error, undefined, `the idempotent call failed: ${idempotent.error}`);
  t.deepEqual(idempotent.value, { invocation: 2, nodeID: child.nodeID });

  // Not idempotent: the timeout reaches the caller and the action is not run again (a retry would have
  // answered at once and turned this rejection into a success).
  const once = await timed(() => broker.call("echo.slowOnce", {}));
  t.is(once.error?.name, "RequestTimeoutError", `expected a timeout, got ${once.error ?? JSON.stringify(once.value)}`);
  t.true(once.ms <= 5000, `failed only after ${once.ms} ms`);

  t.deepEqual(await broker.call("echo.count", {}), { slowIdempotent: 2, slowOnce: 1 });
  await assertStopsPromptly(t, stopBroker);
});
