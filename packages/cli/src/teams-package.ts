// npm run hearth -- teams-package: the Teams app package (infra/teams) for this installation, ready to upload in
// Teams Admin Center (Manage apps → Upload new app) or the Developer Portal.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "@hearth/platform";
import { buildTeamsPackage } from "@hearth/teams-app";

export async function teamsPackageCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { out: { type: "string" }, version: { type: "string" }, "public-url": { type: "string" } },
  });
  const config = loadConfig();
  const botAppId = config.bot?.appId ?? process.env.BOT_APP_ID;
  const entraAppId = process.env.M365_CLIENT_ID;
  if (!botAppId || !entraAppId) {
    console.error("teams-package needs BOT_APP_ID (the Azure Bot's app id) and M365_CLIENT_ID (the Entra app)");
    return 2;
  }
  const out = path.resolve(values.out ?? path.join(config.dataDir, "hearth-teams-app.zip"));
  const zip = buildTeamsPackage({
    botAppId,
    entraAppId,
    publicUrl: values["public-url"] ?? config.http.publicUrl,
    ...(values.version ? { version: values.version } : {}),
  });
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, zip);
  console.log(`${out} (${zip.byteLength} bytes): manifest.json, color.png, outline.png`);
  return 0;
}
