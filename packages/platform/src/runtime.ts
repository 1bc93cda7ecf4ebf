import type moleculer from "moleculer";
import { type HearthConfig, loadConfig } from "./config.ts";

const configs = new WeakMap<moleculer.ServiceBroker, HearthConfig>();

/** The broker's Hearth configuration: bound by createBrokerOptions, so tests can run brokers with different settings side by side. */
export function bindConfig(broker: moleculer.ServiceBroker, config: HearthConfig): void {
  configs.set(broker, config);
}

export function configOf(broker: moleculer.ServiceBroker): HearthConfig {
  let config = configs.get(broker);
  if (!config) {
    config = loadConfig();
    configs.set(broker, config);
  }
  return config;
}
