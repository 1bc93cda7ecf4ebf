import { type HearthConfig, loadConfig } from "@hearth/platform";
import { connect } from "nats";
import { createTestDatabase, type TestDatabase } from "./database.ts";
import { uniqueId } from "./names.ts";

export const NATS_TEST_URL = process.env.NATS_TEST_URL ?? "nats://127.0.0.1:4222";

export type TestEnvironment = {
  id: string;
  /** Environment variables that give a child process the same configuration. */
  env: Record<string, string>;
  config: HearthConfig;
  database?: TestDatabase;
  cleanup(): Promise<void>;
};

export type EnvironmentOptions = {
  /** A database of its own on the real PostgreSQL (default), or the embedded PGlite in a temp folder. */
  database?: "postgresql" | "embedded" | "none";
  /** Real NATS with a stream and subjects of its own (default), or no transporter. */
  nats?: boolean;
  env?: Record<string, string>;
};

/**
 * Everything a test file needs to run beside other test files on the same servers: its own database, its own
 * Moleculer namespace, JetStream stream and subject prefix. `cleanup()` removes them.
 */
export async function createTestEnvironment(options: EnvironmentOptions = {}): Promise<TestEnvironment> {
  const id = uniqueId();
  const useNats = options.nats ?? true;
  const database =
    (options.database ?? "postgresql") === "postgresql" ? await createTestDatabase(`hearth_${id}`) : undefined;
  const env: Record<string, string> = {
    NODE_ENV: "test",
    NAMESPACE: id,
    EVENTS_STREAM: `EV_${id}`,
    EVENTS_SUBJECT_PREFIX: `${id}.events`,
    LOG_LEVEL: "warn",
    LOG_FORMAT: "json",
    METRICS: "off",
    OUTBOX_POLL_MS: "50",
    EVENT_RETRY_BASE_MS: "50",
    DATA_DIR: `/tmp/hearth-test/${id}`,
    SEED_DEMO: "off",
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...(useNats ? { NATS_URL: NATS_TEST_URL } : {}),
    ...options.env,
  };
  const config = loadConfig(env);
  return {
    id,
    env,
    config,
    database,
    async cleanup() {
      if (useNats) await deleteStream(config.events.stream).catch(() => undefined);
      await database?.drop();
    },
  };
}

export async function deleteStream(stream: string) {
  const nc = await connect({ servers: NATS_TEST_URL });
  try {
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream);
  } finally {
    await nc.close();
  }
}
