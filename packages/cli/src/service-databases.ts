import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, type ServiceDatabaseWithMessaging } from "@hearth/platform";

/** Each service that owns a schema exports `database` from services/<name>/src/database.ts. */
export async function serviceDatabases(
  only?: string,
): Promise<Array<{ service: string; database: ServiceDatabaseWithMessaging }>> {
  const servicesDir = path.join(REPO_ROOT, "services");
  const found = [];
  for (const service of fs.readdirSync(servicesDir).sort()) {
    const file = path.join(servicesDir, service, "src", "database.ts");
    if (!fs.existsSync(file) || (only && only !== service)) continue;
    const mod = (await import(file)) as { database: ServiceDatabaseWithMessaging };
    found.push({ service, database: mod.database });
  }
  if (only && found.length === 0)
    throw new Error(`No service "${only}" with a database (services/${only}/src/database.ts)`);
  return found;
}

/** Every services/<name>/src/<name>.service.ts, as Moleculer Runner would load them. */
export async function serviceModules(options: { except?: string[]; only?: string } = {}) {
  const servicesDir = path.join(REPO_ROOT, "services");
  const found = [];
  for (const service of fs.readdirSync(servicesDir).sort()) {
    const file = path.join(servicesDir, service, "src", `${service}.service.ts`);
    if (!fs.existsSync(file) || options.except?.includes(service) || (options.only && options.only !== service))
      continue;
    const mod = (await import(file)) as { default: import("moleculer").ServiceSchema };
    found.push({ service, schema: mod.default });
  }
  return found;
}
