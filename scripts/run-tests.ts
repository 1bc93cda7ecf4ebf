// The one test command (`npm test`, and CI through .ci/run): servers check, type check, lint, then every test package.
// The last line it prints is always `N passed, N failed` (type check and lint count as one test each),
// and it exits non-zero when anything failed.
//
//   npm test                                  everything
//   npm test -- services/gateway              only that package's tests (type check and lint still run)
//   npm test -- packages/platform --match "*outbox*"   other arguments go to ava
//
// A test package is a workspace dir (packages/*, services/*, tests) with test files: test/**/*.test.ts, or for
// tests/ any *.test.ts outside tests/bench. Each needs its ava config in its package.json, for example
//   "ava": { "extensions": ["ts"], "files": ["test/**/*.test.ts"], "timeout": "2m" }
// ava runs in the package's dir (so that config applies), one package after another; it runs files in parallel.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { delimiter, dirname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { checkServices } from "./check-services.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bin = (name: string) => join(root, "node_modules", ".bin", name);

type Tally = { passed: number; failed: number };

const tally: Tally = { passed: 0, failed: 0 };

try {
  await main();
} catch (error) {
  // Even a bug in this script must end with the summary line CI reads.
  console.error(error);
  tally.failed++;
  finish(tally);
}

async function main(): Promise<void> {
  const { packageDirs, avaArgs } = parseArgs(process.argv.slice(2));

  header("Checking PostgreSQL and NATS");
  const problems = await checkServices();
  if (problems.length > 0) {
    for (const problem of problems) console.error(problem);
    finish({ passed: 0, failed: 1 });
    return;
  }
  console.log("Both are up.");

  header("Type check: tsc -p tsconfig.json");
  count(tally, await runCheck(bin("tsc"), ["-p", "tsconfig.json"]));

  header("Lint and format: biome check .");
  count(tally, await runCheck(bin("biome"), ["check", "."]));

  for (const dir of packageDirs ?? listWorkspaceDirs()) {
    if (!hasTests(dir)) {
      if (packageDirs) console.log(`\n${dir} has no test files.`);
      continue;
    }
    header(`Tests: ${dir}`);
    const result = await runAva(dir, avaArgs);
    tally.passed += result.passed;
    tally.failed += result.failed;
  }
  finish(tally);
}

function header(title: string): void {
  console.log(`\n=== ${title}`);
}

function count(tally: Tally, ok: boolean): void {
  if (ok) tally.passed++;
  else tally.failed++;
}

function finish(tally: Tally): void {
  console.log(`\n${tally.passed} passed, ${tally.failed} failed`);
  process.exitCode = tally.failed === 0 ? 0 : 1;
}

/** Positional arguments naming workspace dirs select packages; everything else is for ava. */
function parseArgs(args: string[]): { packageDirs: string[] | undefined; avaArgs: string[] } {
  const workspaceDirs = new Set(listWorkspaceDirs());
  const packageDirs: string[] = [];
  const avaArgs: string[] = [];
  for (const arg of args) {
    const dir = arg.startsWith("-") ? undefined : relative(root, resolve(root, arg));
    if (dir !== undefined && workspaceDirs.has(dir)) packageDirs.push(dir);
    else avaArgs.push(arg);
  }
  return { packageDirs: packageDirs.length > 0 ? packageDirs : undefined, avaArgs };
}

function listWorkspaceDirs(): string[] {
  const dirs = ["packages", "services"].flatMap((group) =>
    subdirs(join(root, group)).map((name) => `${group}/${name}`),
  );
  return [...dirs, "tests"].filter((dir) => existsSync(join(root, dir, "package.json")));
}

function hasTests(dir: string): boolean {
  if (dir !== "tests") return hasTestFile(join(root, dir, "test"));
  return hasTestFile(join(root, "tests"), (path) => !path.startsWith(join(root, "tests", "bench")));
}

function subdirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

function hasTestFile(dir: string, include: (path: string) => boolean = () => true): boolean {
  if (!existsSync(dir) || !include(dir)) return false;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory() && entry.name !== "node_modules" && hasTestFile(path, include)) return true;
    if (entry.isFile() && entry.name.endsWith(".test.ts") && include(path)) return true;
  }
  return false;
}

// Children find this Node first on PATH even when this script was started directly, not through bootstrap.mjs.
function childEnv(): NodeJS.ProcessEnv {
  return { ...process.env, PATH: [dirname(process.execPath), process.env.PATH ?? ""].join(delimiter) };
}

function runCheck(command: string, args: string[]): Promise<boolean> {
  return new Promise((done) => {
    const child = spawn(command, args, { cwd: root, env: childEnv(), stdio: "inherit" });
    child.on("error", (error) => {
      console.error(`Could not run ${command}: ${error.message}`);
      done(false);
    });
    child.on("close", (code) => done(code === 0));
  });
}

async function runAva(dir: string, avaArgs: string[]): Promise<Tally> {
  const manifest = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8"));
  if (!manifest.ava) {
    console.error(`${dir} has test files but no "ava" config in its package.json; see scripts/run-tests.ts.`);
    return { passed: 0, failed: 1 };
  }
  const tally: Tally = { passed: 0, failed: 0 };
  // Each test file in a process of its own, not a worker thread: PGlite's WebAssembly in one worker thread and other
  // workers in the same process can trip V8's JIT page registry ("Check failed: jit_page.has_value()", seen once in
  // CI: the budget tests' process died while the embedded test ran next to it; nodejs/node#64500).
  const child = spawn(bin("ava"), ["--tap", "--no-worker-threads", ...avaArgs], {
    cwd: join(root, dir),
    env: childEnv(),
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((done) => {
    child.on("error", (error) => {
      console.error(`Could not run ava: ${error.message}`);
      done(null);
    });
    child.on("close", (code) => done(code));
  });
  // TAP lines are readable as they are: pass them through while counting results.
  let ranNothing = false;
  for await (const line of createInterface({ input: child.stdout })) {
    console.log(line);
    countTapLine(tally, line);
    if (line === "1..0") ranNothing = true;
  }
  const code = await exited;
  // ava fails when a --match or file filter selects nothing; across several packages that is normal.
  if (ranNothing && avaArgs.length > 0 && tally.failed === 0) {
    console.log(`No test in ${dir} matches ${avaArgs.join(" ")}.`);
    return tally;
  }
  if (code !== 0 && tally.failed === 0) {
    console.error(
      `ava exited with ${code ?? "an error"} in ${dir} without reporting a failed test; counting 1 failure.`,
    );
    tally.failed = 1;
  }
  return tally;
}

// `ok N - title`, `not ok N - title`, with `# SKIP` or `# TODO` directives counted as neither.
function countTapLine(tally: Tally, line: string): void {
  const result = /^(not )?ok\b/.exec(line);
  if (!result || /#\s*(SKIP|TODO)\b/i.test(line)) return;
  if (result[1]) tally.failed++;
  else tally.passed++;
}
