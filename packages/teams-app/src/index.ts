// Hearth's Teams app package: infra/teams/manifest.json with this installation's ids and URLs filled in, plus the
// two icons, zipped the way Teams Admin Center and Developer Portal take it (files at the root of the zip).
import fs from "node:fs";
import path from "node:path";
import { zipSync } from "fflate";

export const TEAMS_APP_DIR = path.resolve(import.meta.dirname, "../../../infra/teams");
export const PACKAGE_FILES = ["manifest.json", "color.png", "outline.png"] as const;

export type ManifestValues = {
  /** The Azure Bot's Microsoft App ID (BOT_APP_ID). */
  botAppId: string;
  /** The Entra app that sends activity-feed notifications (webApplicationInfo.id; M365_CLIENT_ID). */
  entraAppId: string;
  /** Where Hearth is reached, e.g. https://hearth.contoso.com (PUBLIC_URL): tab URLs and valid domains. */
  publicUrl: string;
  /** The app package version (semver); raise it for every upload. */
  version?: string;
};

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The manifest for these values; the ids must be GUIDs and the URL HTTPS (Teams loads tabs over HTTPS only). */
export function renderManifest(values: ManifestValues): Record<string, unknown> {
  for (const [name, value] of [
    ["botAppId (BOT_APP_ID)", values.botAppId],
    ["entraAppId (M365_CLIENT_ID)", values.entraAppId],
  ] as const) {
    if (!GUID.test(value)) throw new Error(`${name} must be a GUID, got "${value}"`);
  }
  const url = new URL(values.publicUrl);
  if (url.protocol !== "https:") throw new Error(`publicUrl (PUBLIC_URL) must be https, got "${values.publicUrl}"`);
  const version = values.version ?? "1.0.0";
  if (!/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`version must be like 1.2.3, got "${version}"`);
  const replacements: Record<string, string> = {
    "{{BOT_APP_ID}}": values.botAppId.toLowerCase(),
    "{{ENTRA_APP_ID}}": values.entraAppId.toLowerCase(),
    "{{PUBLIC_URL}}": url.origin + url.pathname.replace(/\/+$/, ""),
    "{{PUBLIC_HOST}}": url.host,
    "{{VERSION}}": version,
  };
  const template = fs.readFileSync(path.join(TEAMS_APP_DIR, "manifest.json"), "utf8");
  const filled = template.replace(/\{\{[A-Z_]+\}\}/g, (token) => {
    const value = replacements[token];
    if (value === undefined) throw new Error(`manifest.json has an unknown placeholder ${token}`);
    return value;
  });
  return JSON.parse(filled) as Record<string, unknown>;
}

/** The app package (zip): manifest.json and the icons, with a fixed timestamp so the same input gives the same bytes. */
export function buildTeamsPackage(values: ManifestValues): Uint8Array {
  const manifest = renderManifest(values);
  const mtime = new Date("2026-01-01T00:00:00Z");
  return zipSync(
    {
      "manifest.json": [new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`), { mtime }],
      "color.png": [fs.readFileSync(path.join(TEAMS_APP_DIR, "color.png")), { mtime, level: 0 }],
      "outline.png": [fs.readFileSync(path.join(TEAMS_APP_DIR, "outline.png")), { mtime, level: 0 }],
    },
    { level: 9 },
  );
}

export { colorIcon, outlineIcon, writeIcons } from "./icons.ts";
