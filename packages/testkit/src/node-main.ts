// Entry point of a child node started by spawnNode(): a broker with the services named in the environment.
import { createBrokerOptions, loadConfig } from "@hearth/platform";
import moleculer from "moleculer";

const config = loadConfig(process.env);
const broker = new moleculer.ServiceBroker(
  createBrokerOptions(config, { nodeID: process.env.HEARTH_NODE_ID, metrics: false }),
);
for (const file of (process.env.HEARTH_SERVICE_MODULES ?? "").split(",").filter(Boolean)) {
  const mod = await import(file);
  broker.createService(mod.default);
}
await broker.start();
process.send?.({ type: "ready", nodeID: broker.nodeID });
process.on("disconnect", () => broker.stop().finally(() => process.exit(0)));
