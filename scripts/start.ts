// `npm start`: Moleculer Runner with the given arguments. On the embedded database with no Microsoft 365 tenant
// configured, the demo gets one: the Graph emulator (packages/graph-emulator) runs in this process with the demo
// company (the people development tokens are made for, plus a few hundred more), and the runner — a child process,
// because Node reads NODE_EXTRA_CA_CERTS only at start — signs in to it as the m365 service would to Entra ID.
import { spawn } from "node:child_process";
import path from "node:path";
import { type GraphEmulator, type HireOptions, m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { loadConfig, REPO_ROOT } from "@hearth/platform";
import { demoDirectory } from "../services/people/src/demo-directory.ts";

const DEMO_TENANT_PEOPLE = 300;

function wantsEmulator(): boolean {
  const env = process.env;
  if (env.GRAPH_EMULATOR === "off" || env.M365_TENANT_ID) return false;
  const services = env.SERVICES?.split(",").map((s) => s.trim());
  if (services && !services.includes("m365")) return false;
  return loadConfig().database.kind === "embedded" || env.GRAPH_EMULATOR === "on";
}

/** The demo company, managers first, with the object ids development tokens carry. */
function hireDemoCompany(emulator: GraphEmulator) {
  const pending = demoDirectory(new Date());
  const hired = new Set<string>();
  while (pending.length > 0) {
    const index = pending.findIndex((p) => !p.profile.managerId || hired.has(p.profile.managerId));
    if (index < 0) throw new Error("the demo directory has a manager cycle");
    const [{ objectId, profile: p }] = pending.splice(index, 1) as [(typeof pending)[number]];
    if (emulator.control.tenant.findAny(objectId)) {
      hired.add(objectId);
      continue;
    }
    const person: HireOptions = {
      id: objectId,
      userPrincipalName: p.upn!,
      mail: p.mail ?? null,
      displayName: p.displayName!,
      givenName: p.givenName ?? null,
      surname: p.surname ?? null,
      department: p.department ?? null,
      jobTitle: p.jobTitle ?? null,
      office: p.office ?? undefined,
      managerId: p.managerId ?? null,
      employeeHireDate: p.hireDate ? `${p.hireDate}T00:00:00Z` : null,
      accountEnabled: true,
    };
    emulator.control.hire(person);
    hired.add(objectId);
  }
}

async function main() {
  const runnerArgs = process.argv.slice(2);
  const env: Record<string, string | undefined> = { ...process.env };
  let emulator: GraphEmulator | undefined;
  if (wantsEmulator()) {
    const config = loadConfig();
    emulator = await startGraphEmulator({
      // A fixed port: the people service stores Graph's deltaLink, which names it.
      port: Number(process.env.GRAPH_EMULATOR_PORT ?? 4443),
      dataDir: path.join(config.dataDir, "graph-emulator"),
      tenant: { users: DEMO_TENANT_PEOPLE, seed: "contoso-demo", domain: "contoso.example", companyName: "Contoso" },
      // Microsoft's published limits; on the real clock unless GRAPH_EMULATOR_TIME_SCALE shortens their windows.
      throttling: true,
      timeScale: Number(process.env.GRAPH_EMULATOR_TIME_SCALE ?? 1),
    });
    hireDemoCompany(emulator);
    Object.assign(env, m365ClientEnv(emulator), { HEARTH_GRAPH_EMULATOR_URL: emulator.url });
  }
  const runner = spawn(process.execPath, [path.join(REPO_ROOT, runnerArgs[0]!), ...runnerArgs.slice(1)], {
    cwd: REPO_ROOT,
    env,
    stdio: "inherit",
  });
  const forward = (signal: NodeJS.Signals) => runner.kill(signal);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, forward);
  runner.on("exit", async (code, signal) => {
    await emulator?.close();
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}

await main();
