// `npm run hearth -- sync [--full]`: runs the directory sync from Microsoft 365 and shows its progress.
// With NATS_URL the CLI joins the cluster and asks the running people service; without it, it starts the people and
// m365 services in this process on the embedded database (stop `npm start` first: PGlite has one owner).
import { parseArgs } from "node:util";
import type { TSyncRun } from "@hearth/contracts";
import { createBrokerOptions, loadConfig } from "@hearth/platform";
import cliProgress from "cli-progress";
import moleculer from "moleculer";
import { serviceModules } from "./service-databases.ts";

type SyncStatus = { current: TSyncRun | null; last: TSyncRun | null };

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
    return run.status === "completed" ? 0 : 1;
  } finally {
    await broker.stop();
  }
}
