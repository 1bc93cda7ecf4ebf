// Run the emulator as its own process (demo, load tests, other services in dev):
//   node packages/graph-emulator/src/main.ts
// Environment: GRAPH_EMULATOR_PORT (default 4443), GRAPH_EMULATOR_DATA_DIR (default .data/graph-emulator, keeps the
// CA and signing key so clients keep trusting it), GRAPH_EMULATOR_USERS (default 500), GRAPH_EMULATOR_SEED (default 1),
// GRAPH_EMULATOR_TIME_SCALE (default 1), GRAPH_EMULATOR_THROTTLING ("off" to disable).
// Prints one JSON line with the url, tenant, app credentials and CA path, then serves until SIGINT/SIGTERM.
import path from "node:path";
import { startGraphEmulator } from "./server.ts";

const env = process.env;
const emulator = await startGraphEmulator({
  port: Number(env.GRAPH_EMULATOR_PORT ?? 4443),
  dataDir: path.resolve(env.GRAPH_EMULATOR_DATA_DIR ?? ".data/graph-emulator"),
  tenant: { users: Number(env.GRAPH_EMULATOR_USERS ?? 500), seed: env.GRAPH_EMULATOR_SEED ?? 1 },
  timeScale: Number(env.GRAPH_EMULATOR_TIME_SCALE ?? 1),
  throttling: env.GRAPH_EMULATOR_THROTTLING !== "off",
});
const app = emulator.control.app();
console.log(
  JSON.stringify({
    url: emulator.url,
    tenantId: emulator.tenantId,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    permissions: app.permissions,
    caCertPath: emulator.caCertPath,
  }),
);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    emulator.close().then(() => process.exit(0));
  });
}
