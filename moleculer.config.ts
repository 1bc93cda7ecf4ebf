// The broker configuration for Moleculer Runner (`npm start`, and one process per service in production):
// NATS when NATS_URL is set, otherwise every service in one process on the embedded PostgreSQL.
import { createBrokerOptions, loadConfig } from "@hearth/platform";
import type moleculer from "moleculer";

const config = loadConfig();
const options = createBrokerOptions(config);

const brokerConfig: moleculer.BrokerOptions = {
  ...options,
  async started(broker) {
    if (broker.getLocalService("gateway")) {
      const url = config.http.publicUrl;
      broker.logger.info(
        [
          "Hearth is running.",
          `  API:   ${url}/api/v1`,
          `  Docs:  ${url}/api/docs  (OpenAPI: ${url}/api/openapi.json)`,
          `  Ready: ${url}/api/ready`,
          ...(config.metrics ? [`  Metrics: http://127.0.0.1:${config.metrics.port}/metrics`] : []),
          ...(process.env.HEARTH_GRAPH_EMULATOR_URL
            ? [
                `  Microsoft 365: the Graph emulator at ${process.env.HEARTH_GRAPH_EMULATOR_URL} (demo tenant; the directory syncs from it)`,
              ]
            : []),
          ...(config.auth.kind === "development"
            ? [
                "  A token for a demo user:  npm run token -- --user hr@contoso.example --roles HR",
                `  then:  curl -H "Authorization: Bearer $TOKEN" ${url}/api/v1/me`,
              ]
            : []),
        ].join("\n"),
      );
    }
  },
};

export default brokerConfig;
