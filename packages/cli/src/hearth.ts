// Hearth's operator commands: npm run hearth -- <command> [options]
import { parseArgs } from "node:util";
import { ROLES, type Role } from "@hearth/contracts";
import {
  closeDatabase,
  createBrokerOptions,
  loadConfig,
  loadOrCreateDevIssuer,
  migrate,
  openDatabase,
  pendingMigrations,
} from "@hearth/platform";
import moleculer from "moleculer";
import { serviceDatabases, serviceModules } from "./service-databases.ts";
import { syncCommand } from "./sync.ts";
import { teamsPackageCommand } from "./teams-package.ts";

const HELP = `Hearth operator commands

Usage: npm run hearth -- <command> [options]

Commands:
  migrate [--service NAME]          apply pending migrations of every service (or one)
  migrate:status                    list pending migrations per service
  migration:create --service NAME [--name LABEL]
                                    generate a migration from the service's entities (needs DATABASE_URL or embedded)
  dead-letters [--service NAME]     list events that services failed to handle (newest first)
  dead-letters:retry --service NAME [--id ID]...
                                    run dead-lettered events through the service's current handler again
  seed                              seed the demo data of every service (only what is missing)
  sync [--full]                     sync the directory from Microsoft 365 now, with progress (--full: read everyone
                                    again; people not seen have left)
  teams-package [--out FILE] [--version X.Y.Z]
                                    build the Teams app package (zip) for BOT_APP_ID, M365_CLIENT_ID and PUBLIC_URL
  token --user UPN [--roles R1,R2] [--name "Full Name"] [--minutes N]
                                    print a bearer token from the development issuer (local use only)
  help                              this text

Roles: ${ROLES.join(", ")}. Configuration comes from the environment (see README).
Shortcut: npm run token -- --user hr@contoso.example --roles HR`;

type Command = (args: string[]) => Promise<number>;

async function withEachDatabase(
  only: string | undefined,
  work: (service: string, orm: Awaited<ReturnType<typeof openDatabase>>, schema: string) => Promise<void>,
) {
  const config = loadConfig();
  const databases = await serviceDatabases(only);
  if (databases.length === 0) console.log("No service owns a database yet.");
  for (const [i, { service, database }] of databases.entries()) {
    process.stdout.write(`[${i + 1}/${databases.length}] ${service}: `);
    const orm = await openDatabase(config, database);
    try {
      await work(service, orm, database.schema);
    } finally {
      await closeDatabase(config, orm);
    }
  }
}

const commands: Record<string, Command> = {
  async migrate(args) {
    const { values } = parseArgs({ args, options: { service: { type: "string" } } });
    const config = loadConfig();
    const url = config.database.kind === "postgresql" ? config.database.url : undefined;
    await withEachDatabase(values.service, async (_service, orm, schema) => {
      const applied = await migrate(orm, schema, url);
      console.log(applied.length > 0 ? `applied ${applied.join(", ")}` : "up to date");
    });
    return 0;
  },

  async "migrate:status"() {
    await withEachDatabase(undefined, async (_service, orm) => {
      const pending = await pendingMigrations(orm);
      console.log(pending.length > 0 ? `pending ${pending.join(", ")}` : "up to date");
    });
    return 0;
  },

  async "migration:create"(args) {
    const { values } = parseArgs({ args, options: { service: { type: "string" }, name: { type: "string" } } });
    if (!values.service) {
      console.error("migration:create needs --service NAME");
      return 2;
    }
    await withEachDatabase(values.service, async (_service, orm, schema) => {
      await migrate(orm, schema);
      const result = await orm.migrator.create(undefined, false, false, values.name);
      console.log(
        result.diff.up.length > 0 ? `created ${result.fileName}` : "entities match the schema; nothing to do",
      );
    });
    return 0;
  },

  async "dead-letters"(args) {
    const { values } = parseArgs({ args, options: { service: { type: "string" } } });
    await withEachDatabase(values.service, async (_service, orm, schema) => {
      const rows = (await orm.em
        .fork()
        .getConnection()
        .execute(
          `select id, consumer, event, attempts, failed_at, error from "${schema}".dead_letter order by failed_at desc limit 200`,
        )) as Array<{ id: string; event: string; attempts: number; failed_at: string; error: string }>;
      console.log(rows.length === 0 ? "none" : `${rows.length}`);
      for (const r of rows)
        console.log(`  ${r.id}  ${r.event}  ${r.attempts} attempts  ${r.failed_at}\n    ${r.error}`);
    });
    return 0;
  },

  async "dead-letters:retry"(args) {
    const { values } = parseArgs({
      args,
      options: { service: { type: "string" }, id: { type: "string", multiple: true } },
    });
    if (!values.service) {
      console.error("dead-letters:retry needs --service NAME");
      return 2;
    }
    await serviceDatabases(values.service); // says clearly when the service owns no database
    const modules = await serviceModules({ only: values.service });
    const config = loadConfig({ ...process.env, SEED_DEMO: "off", METRICS: "off" });
    const broker = new moleculer.ServiceBroker({
      ...createBrokerOptions(config, { metrics: false }),
      logger: { type: "Console", options: { level: "warn", formatter: "short" } },
    });
    broker.createService(modules[0]!.schema);
    await broker.start();
    try {
      const result = (await broker.call(`${values.service}.retryDeadLetters`, values.id ? { ids: values.id } : {})) as {
        retried: number;
        succeeded: number;
        failed: Array<{ id: string; error: string }>;
      };
      console.log(`retried ${result.retried}: ${result.succeeded} handled, ${result.failed.length} failed again`);
      for (const f of result.failed) console.log(`  ${f.id}: ${f.error}`);
      return result.failed.length > 0 ? 1 : 0;
    } finally {
      await broker.stop();
    }
  },

  async seed() {
    const config = loadConfig({ ...process.env, SEED_DEMO: "always", METRICS: "off" });
    const broker = new moleculer.ServiceBroker({
      ...createBrokerOptions(config, { metrics: false }),
      logger: { type: "Console", options: { level: "warn", formatter: "short" } },
    });
    const modules = await serviceModules({ except: ["gateway"] });
    for (const { service, schema } of modules) {
      console.log(`loading ${service}`);
      broker.createService(schema);
    }
    await broker.start();
    // Seeds ran at start; let their events out before stopping.
    for (const service of broker.services as Array<{ name: string; outboxRelay?: { drain(): Promise<number> } }>) {
      const sent = await service.outboxRelay?.drain();
      if (sent) console.log(`${service.name}: ${sent} events published`);
    }
    await broker.stop();
    console.log(modules.length > 0 ? "demo data is in place" : "no service has demo data yet");
    return 0;
  },

  sync: syncCommand,

  async token(args) {
    const { values } = parseArgs({
      args,
      options: {
        user: { type: "string" },
        roles: { type: "string", default: "" },
        name: { type: "string" },
        minutes: { type: "string", default: "60" },
      },
    });
    const config = loadConfig();
    if (config.auth.kind !== "development") {
      console.error("token: AUTH_* is set, so tokens come from Entra ID, not from the development issuer.");
      return 2;
    }
    if (!values.user?.includes("@")) {
      console.error("token: --user must be a user principal name such as hr@contoso.example");
      return 2;
    }
    const roles = values.roles
      .split(",")
      .map((r) => r.trim())
      .filter(Boolean);
    const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
    if (unknown.length > 0) {
      console.error(`token: unknown role(s) ${unknown.join(", ")}; choose from ${ROLES.join(", ")}`);
      return 2;
    }
    const minutes = Number(values.minutes);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 24 * 60) {
      console.error("token: --minutes must be a whole number from 1 to 1440");
      return 2;
    }
    const issuer = await loadOrCreateDevIssuer({ dir: config.auth.keyDir });
    const token = await issuer.signAccessToken({
      upn: values.user,
      name: values.name,
      roles: roles as Role[],
      expiresInSeconds: minutes * 60,
    });
    console.log(token);
    return 0;
  },

  "teams-package": teamsPackageCommand,

  async help() {
    console.log(HELP);
    return 0;
  },
};

const [name = "help", ...rest] = process.argv.slice(2);
const command = commands[name === "--help" || name === "-h" ? "help" : name];
if (!command) {
  console.error(`Unknown command "${name}".\n\n${HELP}`);
  process.exit(2);
}
try {
  process.exit(await command(rest));
} catch (error) {
  console.error(`${name}: ${(error as Error).message}`);
  process.exit(1);
}
