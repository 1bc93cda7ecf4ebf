import os from "node:os";
import moleculer from "moleculer";
import { AccessMiddleware } from "./access.ts";
import type { HearthConfig } from "./config.ts";
import { bindConfig } from "./runtime.ts";
import { ZodValidator } from "./validator.ts";

export type BrokerTuning = {
  nodeID?: string;
  /** Prometheus reporter on its own port; off in tests, where many brokers share one machine. */
  metrics?: boolean;
};

type RetryableError = Error & { retryable?: boolean; code?: number };

/**
 * Settles a remote call when its timeout passes. Moleculer's Timeout middleware wraps the ContextTracker and
 * CircuitBreaker middlewares from outside, and on a timeout its ErrorHandler drops the pending request without
 * settling it: the promise those two hold never settles. Each remote call that times out then leaks a tracked
 * context (every later graceful stop waits the whole shutdownTimeout) and is never counted as a failure by the
 * circuit breaker. User middlewares are innermost, so this rejects the request itself at the same deadline.
 */
export function SettleTimedOutRemoteCalls(): moleculer.Middleware {
  return {
    name: "HearthSettleTimedOutRemoteCalls",
    remoteAction(handler: moleculer.ActionHandler) {
      return function settleAtDeadline(this: moleculer.Service, ctx: moleculer.Context) {
        const request = handler.call(this, ctx) as Promise<unknown>;
        const timeout = ctx.options.timeout ?? 0;
        if (!(timeout > 0)) return request;
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          // A little after the Timeout middleware's own timer, so its error, log line and metric come first.
          timer = setTimeout(
            () => reject(new moleculer.Errors.RequestTimeoutError({ action: ctx.action?.name, nodeID: ctx.nodeID })),
            timeout + 50,
          );
        });
        return Promise.race([request, deadline]).finally(() => clearTimeout(timer));
      } as moleculer.ActionHandler;
    },
  } as moleculer.Middleware;
}

const RETRIES = 3;

/**
 * Retries of an idempotent action must fit in the caller's request timeout, not multiply it: each attempt gets an
 * equal share (REQUEST_TIMEOUT_MS / 4), so a request that hit a dead replica is retried on a live one and the
 * caller still hears back within about REQUEST_TIMEOUT_MS. Runs before Moleculer's Timeout middleware wraps the
 * action (Hearth's middlewares are innermost), which reads `action.timeout`. A caller's explicit timeout still wins.
 */
export function AttemptTimeoutForIdempotentActions(requestTimeoutMs: number): moleculer.Middleware {
  const attemptTimeout = Math.max(250, Math.floor(requestTimeoutMs / (RETRIES + 1)));
  const share = (action: moleculer.ActionSchema & { retryPolicy?: { enabled?: boolean }; timeout?: number }) => {
    if (action.retryPolicy?.enabled && action.timeout == null) action.timeout = attemptTimeout;
  };
  return {
    name: "HearthAttemptTimeout",
    localAction(handler: moleculer.ActionHandler, action: moleculer.ActionSchema) {
      share(action);
      return handler;
    },
    remoteAction(handler: moleculer.ActionHandler, action: moleculer.ActionSchema) {
      share(action);
      return handler;
    },
  } as moleculer.Middleware;
}

/**
 * The one broker configuration (moleculer.config.ts and the testkit both use it), so tests run the same
 * fault-tolerance settings as production.
 */
export function createBrokerOptions(config: HearthConfig, tuning: BrokerTuning = {}): moleculer.BrokerOptions {
  const metricsOn = tuning.metrics ?? !!config.metrics;
  return {
    namespace: config.namespace,
    nodeID: tuning.nodeID ?? `${os.hostname()}-${process.pid}`,
    transporter: config.nats ? { type: "NATS", options: { url: config.nats.url } } : null,
    serializer: "JSON",
    requestTimeout: config.requestTimeoutMs,
    // Off by default; `action()` switches it on only for actions whose contract says they are idempotent,
    // so a timed-out write is never run twice by a retry.
    retryPolicy: {
      enabled: false,
      retries: RETRIES,
      delay: 100,
      maxDelay: 1000,
      factor: 2,
      check: (err: Error) => !!(err as RetryableError).retryable,
    },
    circuitBreaker: {
      enabled: true,
      threshold: 0.5,
      minRequestCount: 20,
      windowTime: 60,
      halfOpenTime: 10_000,
      check: (err: Error) => ((err as RetryableError).code ?? 500) >= 500,
    },
    bulkhead: { enabled: true, concurrency: 64, maxQueueSize: 1000 },
    // Graceful shutdown: wait for in-flight requests before stopping services.
    tracking: { enabled: true, shutdownTimeout: 10_000 },
    registry: { strategy: "RoundRobin", preferLocal: true, stopDelay: 500 },
    heartbeatInterval: 5,
    heartbeatTimeout: 15,
    logger: {
      type: "Console",
      options: {
        level: config.log.level,
        formatter: config.log.format === "json" ? "json" : "short",
        colors: config.log.format !== "json",
        moduleColors: false,
      },
    },
    metrics:
      metricsOn && config.metrics
        ? {
            enabled: true,
            reporter: [{ type: "Prometheus", options: { port: config.metrics.port, path: "/metrics" } }],
          }
        : { enabled: false },
    tracing: config.tracing.zipkinUrl
      ? { enabled: true, exporter: [{ type: "Zipkin", options: { baseURL: config.tracing.zipkinUrl } }] }
      : { enabled: false },
    validator: new ZodValidator({}) as unknown as moleculer.BrokerOptions["validator"],
    middlewares: [
      AccessMiddleware(),
      SettleTimedOutRemoteCalls(),
      AttemptTimeoutForIdempotentActions(config.requestTimeoutMs),
    ],
    created: (broker) => bindConfig(broker, config),
  };
}
