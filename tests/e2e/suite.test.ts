// The suite as `npm start` runs it (Moleculer Runner + moleculer.config.ts), in a child process, end to end.
import { execFile, spawn } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "@hearth/platform";
import { createTestEnvironment, freePort, waitFor } from "@hearth/testkit";
import test, { type ExecutionContext } from "ava";

const RUNNER = "node_modules/moleculer/bin/moleculer-runner.mjs";
const RUNNER_ARGS = ["--config", "moleculer.config.ts", "--mask", "*/src/*.service.ts", "services"];
// What `npm start` runs once Node 24 and the dependencies are there: the demo's Graph emulator, then the runner.
const START = path.join(REPO_ROOT, "scripts/start.ts");
const CLI = path.join(REPO_ROOT, "packages/cli/src/hearth.ts");

async function startSuite(t: ExecutionContext, env: Record<string, string>, options: { demo?: boolean } = {}) {
  const args = options.demo ? [START, RUNNER, ...RUNNER_ARGS] : [path.join(REPO_ROOT, RUNNER), ...RUNNER_ARGS];
  const child = spawn(process.execPath, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  t.teardown(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  });
  // PORT=0: the gateway binds a port the kernel picks and logs it (at info level). A port probed free beforehand can be taken by
  // another test's outbound connection before the suite binds it (seen in CI as EADDRINUSE).
  const deadline = Date.now() + 60_000;
  let base = "";
  for (;;) {
    base ||= /Hearth API on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] ?? "";
    const status = base
      ? await fetch(`${base}/api/ready`)
          .then((r) => r.status)
          .catch(() => 0)
      : 0;
    if (status === 200) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`suite never became ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return { base, child, exited, output: () => output };
}

async function token(env: Record<string, string>, ...args: string[]) {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, "token", ...args], {
    env: { ...process.env, ...env },
    cwd: REPO_ROOT,
  });
  return stdout.trim();
}

for (const mode of ["postgresql+nats", "embedded"] as const) {
  test(`${mode}: the suite starts, serves a token's caller, and stops gracefully on SIGTERM`, async (t) => {
    const testEnv = await createTestEnvironment(mode === "embedded" ? { database: "embedded", nats: false } : {});
    t.teardown(() => testEnv.cleanup());
    const env = { ...testEnv.env, PORT: "0", METRICS: "off", LOG_FORMAT: "json", LOG_LEVEL: "info" };
    const suite = await startSuite(t, env);

    const bearer = await token(env, "--user", "hr@contoso.example", "--roles", "HR,CommunityManager");
    const me = await fetch(`${suite.base}/api/v1/me`, { headers: { authorization: `Bearer ${bearer}` } }).catch(
      (error: Error) => {
        throw new Error(
          `GET /api/v1/me failed (${error.message}; ${String(error.cause)}); the suite said:\n${suite.output()}`,
        );
      },
    );
    t.is(me.status, 200);
    const caller = (await me.json()) as { upn: string; roles: string[] };
    t.is(caller.upn, "hr@contoso.example");
    t.deepEqual([...caller.roles].sort(), ["CommunityManager", "Employee", "HR"]);

    // Each service once: a service found twice (say, through a link in another service's node_modules) would
    // start a second gateway, which fails on a fixed PORT.
    t.is(suite.output().match(/Hearth API on/g)?.length, 1);

    const docs = await fetch(`${suite.base}/api/openapi.json`);
    t.is(docs.status, 200);

    suite.child.kill("SIGTERM");
    t.is(await suite.exited, 0, suite.output());
  });
}

test("npm start demo: the directory syncs from the Graph emulator's demo tenant, and demo users find themselves", async (t) => {
  const testEnv = await createTestEnvironment({ database: "embedded", nats: false });
  t.teardown(() => testEnv.cleanup());
  const env = {
    ...testEnv.env,
    PORT: "0",
    METRICS: "off",
    LOG_FORMAT: "json",
    LOG_LEVEL: "info",
    SEED_DEMO: "on",
    GRAPH_EMULATOR_PORT: String(await freePort()),
  };
  const suite = await startSuite(t, env, { demo: true });
  const headers = {
    authorization: `Bearer ${await token(env, "--user", "hr@contoso.example", "--roles", "HR")}`,
  };
  // The first sync starts with the service; it reads the demo company and 300 more people.
  const status = await waitFor(
    "the first directory sync",
    async () =>
      (await (await fetch(`${suite.base}/api/v1/directory/sync`, { headers })).json()) as {
        last: { kind: string; status: string; seen: number } | null;
      },
    (s) => s.last?.status === "completed",
    60_000,
  );
  t.like(status.last, { kind: "full", status: "completed" });
  t.true(status.last!.seen >= 340, `saw ${status.last!.seen}`);
  const found = await fetch(`${suite.base}/api/v1/employees?q=hr%40contoso.example`, { headers });
  const { items } = (await found.json()) as { items: Array<{ displayName: string; timeZone: string }> };
  t.deepEqual(
    items.map((e) => [e.displayName, e.timeZone]),
    [["Helen Roberts", "Europe/London"]],
  );
  const me = await fetch(`${suite.base}/api/v1/me/profile`, { headers });
  t.is(me.status, 200);
  t.regex(suite.output(), /Microsoft 365: the Graph emulator at https:\/\/127\.0\.0\.1:\d+/);

  suite.child.kill("SIGTERM");
  t.is(await suite.exited, 0, suite.output());
});

test("the token command refuses unknown roles and bad user names with a clear message", async (t) => {
  const testEnv = await createTestEnvironment({ database: "none", nats: false });
  t.teardown(() => testEnv.cleanup());
  const err = await t.throwsAsync(token(testEnv.env, "--user", "hr@contoso.example", "--roles", "Boss"));
  t.regex(String((err as { stderr?: string }).stderr), /unknown role\(s\) Boss/);
  const err2 = await t.throwsAsync(token(testEnv.env, "--user", "hr"));
  t.regex(String((err2 as { stderr?: string }).stderr), /--user must be a user principal name/);
});
