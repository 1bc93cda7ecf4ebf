import {
  addTeamMembers,
  createChannel,
  createEvent,
  createTeam,
  installAppForUser,
  readDirectoryChanges,
  readEventResponses,
  readMailboxSettings,
  removeTeamMember,
  sendActivityNotifications,
  sendMail,
} from "@hearth/contracts";
import { action, BadRequestError, type DatabaseThis, databaseMixin } from "@hearth/platform";
import type moleculer from "moleculer";
import { botCardActions, botCardMethods } from "./bot-cards.ts";
import { type BudgetObserver, BudgetStore } from "./budget.ts";
import * as calendar from "./calendar-operations.ts";
import { loadM365Config, type M365Config } from "./config.ts";
import { database } from "./database.ts";
import { DirectoryReadAhead, type ReadAheadOutcome } from "./directory-read-ahead.ts";
import type { LimitClass } from "./domain/limit-classes.ts";
import { M365NotConfiguredError } from "./errors.ts";
import { recordInstallations, sendFeed, sweepFeedSends } from "./feed-sends.ts";
import { createGraphApi, type GraphApi, type GraphMetrics } from "./graph-client.ts";
import { readDirectoryPage, readMailboxSettings as readSettings } from "./graph-operations.ts";
import * as messaging from "./messaging-operations.ts";
import { teamCreations } from "./team-creations.ts";
import * as teams from "./teams-operations.ts";

type M365This = DatabaseThis & {
  m365: M365Config;
  graph?: GraphApi;
  graphApi(): GraphApi;
  /** The next page of a users delta read, fetched while the caller stores this one. */
  directoryReadAhead?: DirectoryReadAhead;
  sqlExecute(): (sql: string, params: unknown[]) => Promise<unknown>;
  sweepTimer?: NodeJS.Timeout;
};

const BUDGET_SWEEP_MS = 10 * 60_000;

export const METRIC = {
  requests: "hearth.m365.requests.total",
  throttled: "hearth.m365.throttled.total",
  wait: "hearth.m365.budget.wait.ms",
  waitTotal: "hearth.m365.budget.wait.total.ms",
  pauses: "hearth.m365.budget.pauses.total",
  readAhead: "hearth.m365.directory.read_ahead.total",
} as const;

/** Registers the service's metrics on the broker and returns the hooks that feed them. */
export function m365Metrics(broker: moleculer.ServiceBroker): {
  budget: BudgetObserver;
  graph: GraphMetrics;
  readAhead: (outcome: ReadAheadOutcome) => void;
} {
  const m = broker.metrics;
  if (!m.hasMetric(METRIC.requests)) {
    m.register({ type: "counter", name: METRIC.requests, labelNames: ["class"], description: "Graph requests sent" });
    m.register({
      type: "counter",
      name: METRIC.throttled,
      labelNames: ["class", "status"],
      description: "Graph answers 429/503/504",
    });
    m.register({
      type: "histogram",
      name: METRIC.wait,
      labelNames: ["class"],
      unit: "millisecond",
      buckets: [1, 10, 50, 100, 500, 1000, 5000, 30_000],
      description: "Time a Graph call waited for its budget",
    });
    m.register({ type: "counter", name: METRIC.waitTotal, labelNames: ["class"], unit: "millisecond" });
    m.register({ type: "counter", name: METRIC.pauses, labelNames: ["class"], description: "Budget pauses after 429" });
    m.register({
      type: "counter",
      name: METRIC.readAhead,
      labelNames: ["outcome"],
      description:
        "Users delta pages: fetched ahead and asked for (hit), a nextLink's page read when asked (miss), a read's " +
        "first page (start), fetched ahead in vain (wasted)",
    });
  }
  return {
    budget: {
      granted: (limitClass: LimitClass, _cost, waitedMs) => {
        m.observe(METRIC.wait, waitedMs, { class: limitClass });
        m.increment(METRIC.waitTotal, { class: limitClass }, waitedMs);
      },
      paused: (limitClass: LimitClass) => m.increment(METRIC.pauses, { class: limitClass }),
    },
    graph: {
      request: (limitClass) => m.increment(METRIC.requests, { class: limitClass }),
      throttled: (limitClass, status) => m.increment(METRIC.throttled, { class: limitClass, status: String(status) }),
    },
    readAhead: (outcome) => m.increment(METRIC.readAhead, { outcome }),
  };
}

/** Factory so tests can pass their own configuration; the default export reads the environment. */
export function createM365Service(config: M365Config = loadM365Config()): moleculer.ServiceSchema {
  return {
    name: "m365",
    mixins: [databaseMixin(database)],
    actions: {
      ...botCardActions,
      readDirectoryChanges: action(readDirectoryChanges, async function (this: M365This, ctx) {
        const graph = this.graphApi();
        this.directoryReadAhead ??= new DirectoryReadAhead(
          (link, pageSize) => readDirectoryPage(graph, link, pageSize),
          {
            // Not an error yet: the page is read again when asked for, and that read answers.
            onFailure: (error) => this.logger.debug("Reading a delta page ahead failed", { error: error.message }),
            counted: m365Metrics(this.broker).readAhead,
          },
        );
        return {
          ...(await this.directoryReadAhead.read(ctx.params.link, ctx.params.pageSize)),
          readBy: this.broker.nodeID,
        };
      }),
      readMailboxSettings: action(readMailboxSettings, async function (this: M365This, ctx) {
        return { settings: await readSettings(this.graphApi(), ctx.params.userIds) };
      }),
      sendMail: action(sendMail, async function (this: M365This, ctx) {
        await messaging.sendMail(this.graphApi(), ctx.params);
        return { accepted: true as const };
      }),
      createEvent: action(createEvent, async function (this: M365This, ctx) {
        return calendar.createEvent(this.graphApi(), ctx.params);
      }),
      createTeam: {
        ...action(createTeam, async function (this: M365This, ctx) {
          return teams.createTeam(this.graphApi(), ctx.params, {
            creations: teamCreations(
              (sql, params) => this.em().getConnection().execute(sql, params),
              this.database.schema,
            ),
            log: (message, data) => this.logger.info(message, data),
          });
        }),
        // Provisioning takes seconds to minutes.
        timeout: 0,
      },
      createChannel: action(createChannel, async function (this: M365This, ctx) {
        const { teamId, displayName, description } = ctx.params;
        return teams.createChannel(this.graphApi(), teamId, displayName, description);
      }),
      addTeamMembers: {
        ...action(addTeamMembers, async function (this: M365This, ctx) {
          const { teamId, userIds, role } = ctx.params;
          return { results: await teams.addTeamMembers(this.graphApi(), teamId, userIds, role) };
        }),
        // 5,000 people are 25 calls at 4 per second per team.
        timeout: 0,
      },
      removeTeamMember: action(removeTeamMember, async function (this: M365This, ctx) {
        return { status: await teams.removeTeamMember(this.graphApi(), ctx.params.teamId, ctx.params.userId) };
      }),
      readEventResponses: action(readEventResponses, async function (this: M365This, ctx) {
        return {
          attendees: await calendar.readEventResponses(this.graphApi(), ctx.params.organizerId, ctx.params.eventId),
        };
      }),
      installAppForUser: action(installAppForUser, async function (this: M365This, ctx) {
        const teamsAppId = ctx.params.teamsAppId ?? this.m365.teamsAppId;
        if (!teamsAppId) {
          throw new BadRequestError(
            "No Teams app to install: pass teamsAppId or set M365_TEAMS_APP_ID (the app's org catalog id)",
            "M365_TEAMS_APP_NOT_CONFIGURED",
          );
        }
        const status = await messaging.installAppForUser(this.graphApi(), ctx.params.userId, teamsAppId);
        await recordInstallations(this.sqlExecute(), this.database.schema, [ctx.params.userId.toLowerCase()], "graph");
        return { status };
      }),
      sendActivityNotifications: {
        ...action(sendActivityNotifications, async function (this: M365This, ctx) {
          const { recipientIds, idempotencyKey, ...activity } = ctx.params;
          const deps = {
            execute: this.sqlExecute(),
            schema: this.database.schema,
            teamsAppId: this.m365.teamsAppId,
            log: (message: string, data: Record<string, unknown>) => this.logger.info(message, data),
          };
          return { results: await sendFeed(this.graphApi(), deps, recipientIds, activity, idempotencyKey) };
        }),
        // 10,000 recipients are 100 bulk calls at 2 per second: longer than a request timeout.
        timeout: 0,
      },
    },
    methods: {
      ...botCardMethods,
      sqlExecute(this: M365This) {
        return (sql: string, params: unknown[]) => this.em().getConnection().execute(sql, params);
      },
      /** Built on first use, so the suite starts without a tenant connection (actions then answer 503). */
      graphApi(this: M365This): GraphApi {
        if (this.graph) return this.graph;
        const connection = this.m365.connection;
        if (!connection) throw new M365NotConfiguredError();
        const metrics = m365Metrics(this.broker);
        const budgets = new BudgetStore({
          tenant: connection.tenantId,
          shapes: this.m365.shapes,
          windows: this.m365.windows,
          execute: (sql, params) => this.em().getConnection().execute(sql, params) as never,
          observer: metrics.budget,
        });
        this.graph = createGraphApi(this.m365, budgets, metrics.graph);
        return this.graph;
      },
    },
    created(this: M365This) {
      this.m365 = config;
      m365Metrics(this.broker);
    },
    started(this: M365This) {
      // Full per-mailbox and per-team buckets are dropped now and then (each replica sweeps; deleting twice is fine).
      this.sweepTimer = setInterval(() => {
        if (!this.graph) return;
        this.graph.budgets
          .sweepIdleScopes()
          .then((removed) => removed > 0 && this.logger.debug("Idle budget buckets removed", { removed }))
          .catch((error: Error) => this.logger.warn("Budget sweep failed", { error: error.message }));
        sweepFeedSends(this.sqlExecute(), this.database.schema).catch((error: Error) =>
          this.logger.warn("Feed record sweep failed", { error: error.message }),
        );
      }, BUDGET_SWEEP_MS);
      this.sweepTimer.unref();
      if (this.m365.connection) {
        // The first request should not wait for Entra ID (a token took 250-500 ms on a busy node): fetched now and
        // cached; a failure here is only logged, the first request asks again.
        this.graphApi()
          .credential.getToken(this.m365.graphScope)
          .catch((error: Error) =>
            this.logger.warn("App token not fetched at start; asked again on first use", { error: error.message }),
          );
      }
    },
    stopped(this: M365This) {
      clearInterval(this.sweepTimer);
      this.directoryReadAhead?.clear();
    },
  } as unknown as moleculer.ServiceSchema;
}

export default createM365Service();
