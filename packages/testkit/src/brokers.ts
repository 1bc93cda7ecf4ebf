import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
import { createBrokerOptions, type HearthConfig } from "@hearth/platform";
import moleculer from "moleculer";

/** A broker in this process with the chosen services, configured exactly like production. */
export async function startBroker(
  config: HearthConfig,
  services: moleculer.ServiceSchema[],
  nodeID = `node-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
): Promise<moleculer.ServiceBroker> {
  const broker = new moleculer.ServiceBroker({
    ...createBrokerOptions(config, { nodeID, metrics: false }),
    // ava owns the process: brokers must not install their own signal handlers.
    skipProcessEventRegistration: true,
  });
  for (const schema of services) broker.createService(schema);
  await broker.start();
  return broker;
}

export type ChildNode = {
  nodeID: string;
  process: ChildProcess;
  /** Resolves when the child's broker has started. */
  ready: Promise<void>;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | string | null>;
  /** Graceful stop (SIGTERM) and wait. */
  stop(): Promise<void>;
  /** Kill -9: no shutdown hooks run, as in a crash. */
  kill(): Promise<void>;
};

const NODE_MAIN = path.join(import.meta.dirname, "node-main.ts");

/**
 * A broker in a child process (a real second node on the network), running the service modules given as
 * absolute paths; each module's default export is a service schema.
 */
export function spawnNode(options: {
  env: Record<string, string>;
  serviceModules: string[];
  nodeID?: string;
}): ChildNode {
  const nodeID = options.nodeID ?? `child-${Math.random().toString(36).slice(2, 8)}`;
  const child = fork(NODE_MAIN, [], {
    env: {
      ...process.env,
      ...options.env,
      HEARTH_NODE_ID: nodeID,
      HEARTH_SERVICE_MODULES: options.serviceModules.join(","),
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<number | string | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal)),
  );
  const ready = new Promise<void>((resolve, reject) => {
    child.on("message", (m: { type?: string }) => m?.type === "ready" && resolve());
    exited.then((code) => reject(new Error(`node ${nodeID} exited (${code}) before it was ready`)));
  });
  ready.catch(() => undefined);
  return {
    nodeID,
    process: child,
    ready,
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
