// `npm run hearth -- sync [--full]`: runs the directory sync from Microsoft 365 and shows its progress.
// With NATS_URL the CLI joins the cluster and asks the running people service; without it, it starts the people and
// m365 services in this process on the embedded database (stop `npm start` first: PGlite has one owner).
import { parseArgs } from "node:util";
import type { TSyncRun } from "@hearth/contracts";
import { createBrokerOptions, loadConfig } from "@hearth/platform";
import cliProgress from "cli-progress";
import moleculer from "moleculer";
import { serviceModules } from "./service-databases.ts";

type SyncStatus = {
  current: TSyncRun | null;
  last: TSyncRun | null;
  mailboxSettings: { due: number; error: string | null };
};

/** Shows a run's progress: a bar when the size of the read is known (a full read of a directory synced before). */
export function createProgressView(options: { tty: boolean; expectedPeople?: number; write?: (s: string) => void }) {
  const write = options.write ?? ((s: string) => process.stdout.write(s));
  const started = Date.now();
  const rate = (seen: number) => Math.round(seen / Math.max(0.001, (Date.now() - started) / 1000));
  const counts = (run: TSyncRun) =>
    `pages ${run.pages} · created ${run.created} · updated ${run.updated} · left ${run.left}`;
  if (!options.tty) {
    // Logs and pipes: one plain line per change, no control characters.
    let lastLine = "";
    return {
      update(run: TSyncRun) {
        const line = `${run.kind} sync: ${run.seen} people read · ${counts(run)} · ${rate(run.seen)}/s`;
        if (line !== lastLine) write(`${line}\n`);
        lastLine = line;
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: options.expectedPeople
        ? "{bar} {percentage}% | {value}/{total} people | {counts} | {rate}/s"
        : "{kind} sync: {value} people read | {counts} | {rate}/s",
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stdout,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(options.expectedPeople ?? 0, 0, { counts: "", rate: 0, kind: "" });
  return {
    update(run: TSyncRun) {
      // An estimate from the last full read: a grown directory grows the bar instead of passing 100 %.
      if (options.expectedPeople && run.seen > bar.getTotal()) bar.setTotal(run.seen);
      bar.update(run.seen, { counts: counts(run), rate: rate(run.seen), kind: run.kind });
    },
    stop() {
      bar.stop();
    },
  };
}

export async function syncCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { full: { type: "boolean", default: false } } });
  const config = loadConfig({ ...process.env, SEED_DEMO: "off", METRICS: "off" });
  const broker = new moleculer.ServiceBroker({
    ...createBrokerOptions(config, { metrics: false, nodeID: `hearth-cli-${process.pid}` }),
    logger: { type: "Console", options: { level: "warn", formatter: "short" } },
  });
  if (!config.nats) {
    // This process runs the sync itself: the people service started here must not schedule one of its own.
    process.env.PEOPLE_SYNC_SCHEDULE = "off";
    for (const { schema } of await serviceModules({ only: "people" })) broker.createService(schema);
    for (const { schema } of await serviceModules({ only: "m365" })) broker.createService(schema);
  }
  await broker.start();
  try {
    await broker.waitForServices(["people", "m365"], 15_000);
    const before = (await broker.call("people.getDirectorySync", {})) as SyncStatus;
    const fullRead = values.full || !before.last;
    const view = createProgressView({
      tty: Boolean(process.stdout.isTTY),
      expectedPeople: fullRead && before.last?.kind === "full" ? before.last.seen : undefined,
    });
    const running = broker.call(
      "people.runDirectorySync",
      { trigger: "manual", full: values.full },
      { timeout: 0 },
    ) as Promise<TSyncRun | null>;
    let finished = false;
    const settled = running.then(
      () => (finished = true),
      () => (finished = true),
    );
    let run: TSyncRun | null;
    try {
      while (!finished) {
        await Promise.race([settled, new Promise((r) => setTimeout(r, 500))]);
        const status = (await broker.call("people.getDirectorySync", {})) as SyncStatus;
        if (status.current) view.update(status.current);
      }
      run = await running;
      if (run) view.update(run);
    } finally {
      view.stop();
    }
    if (!run) {
      console.error("\nAnother replica is running the directory sync; watch it with GET /api/v1/directory/sync.");
      return 1;
    }
    const seconds = (Date.parse(run.finishedAt ?? new Date().toISOString()) - Date.parse(run.startedAt)) / 1000;
    console.log(
      `${process.stdout.isTTY ? "\n" : ""}${run.kind} sync ${run.status} in ${seconds.toFixed(1)} s: ${run.seen} people read, ${run.created} created, ` +
        `${run.updated} updated, ${run.left} left (${run.pages} pages)`,
    );
    if (run.status !== "completed") return 1;
    return await waitForMailboxSettings(broker);
  } finally {
    await broker.stop();
  }
}

/**
 * The second stage: the time zones and locales of new and changed people, read per person after the pages (their
 * events go out as they are read). Shown until none is due; a read that fails says why and exits 1.
 */
async function waitForMailboxSettings(broker: moleculer.ServiceBroker): Promise<number> {
  const tty = Boolean(process.stdout.isTTY);
  const started = Date.now();
  let status = (await broker.call("people.getDirectorySync", {})) as SyncStatus;
  const total = status.mailboxSettings.due;
  if (total === 0) return 0;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: "{bar} {percentage}% | mailbox settings {value}/{total} people",
          hideCursor: true,
          stream: process.stdout,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(total, 0);
  let lastLine = "";
  try {
    for (;;) {
      const done = Math.max(0, total - status.mailboxSettings.due);
      if (bar) bar.update(done);
      else {
        const line = `mailbox settings: ${status.mailboxSettings.due} people still to read`;
        if (line !== lastLine) console.log(line);
        lastLine = line;
      }
      if (status.mailboxSettings.due === 0) break;
      if (status.mailboxSettings.error) {
        bar?.stop();
        console.error(
          `\nMailbox settings (time zone, locale) could not be read: ${status.mailboxSettings.error}\n` +
            `${status.mailboxSettings.due} people wait for them (their events too); the people service keeps trying.`,
        );
        return 1;
      }
      await new Promise((r) => setTimeout(r, 500));
      status = (await broker.call("people.getDirectorySync", {})) as SyncStatus;
    }
  } finally {
    bar?.stop();
  }
  console.log(
    `mailbox settings of new and changed people read ${((Date.now() - started) / 1000).toFixed(1)} s after the pages`,
  );
  return 0;
}
