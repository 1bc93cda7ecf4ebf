// The Teams app package against Microsoft's own manifest JSON schema (from its npm package @microsoft/app-manifest):
// the newest schema version that package knows, the icons' sizes, and the zip Teams takes.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import * as ajvDraft04 from "ajv-draft-04";
import * as ajvFormats from "ajv-formats";
import test from "ava";
import { unzipSync } from "fflate";
import { PNG } from "pngjs";
import { buildTeamsPackage, colorIcon, outlineIcon, renderManifest, TEAMS_APP_DIR } from "../src/index.ts";

const require = createRequire(import.meta.url);
// CommonJS modules: from ESM, `default` is module.exports, whose own `default` is the class/plugin.
const Ajv = ajvDraft04.default.default;
const addFormats = ajvFormats.default.default;
const SCHEMAS = path.join(
  path.dirname(require.resolve("@microsoft/app-manifest/package.json")),
  "build/json-schemas/teams",
);

/** The newest released (vX.Y, not vDevPreview) manifest schema the package ships. */
function newestSchemaVersion(): string {
  const versions = fs
    .readdirSync(SCHEMAS)
    .filter((d) => /^v\d+\.\d+$/.test(d))
    .map((d) => d.slice(1))
    .sort((a, b) => {
      const [am, an] = a.split(".").map(Number);
      const [bm, bn] = b.split(".").map(Number);
      return am! - bm! || an! - bn!;
    });
  return versions.at(-1)!;
}

const values = {
  botAppId: "0b6a8f1e-2c3d-4e5f-8a9b-0c1d2e3f4a5b",
  entraAppId: "7e1c2d3f-4a5b-4c6d-9e8f-0a1b2c3d4e5f",
  publicUrl: "https://hearth.contoso.com",
  version: "1.4.0",
};

function validator(version: string) {
  const schema = JSON.parse(fs.readFileSync(path.join(SCHEMAS, `v${version}`, "MicrosoftTeams.schema.json"), "utf8"));
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  return ajv.compile(schema);
}

test("the manifest uses the newest schema version Microsoft's package knows", (t) => {
  const newest = newestSchemaVersion();
  const template = JSON.parse(fs.readFileSync(path.join(TEAMS_APP_DIR, "manifest.json"), "utf8"));
  t.is(template.manifestVersion, newest);
  t.is(template.$schema, `https://developer.microsoft.com/json-schemas/teams/v${newest}/MicrosoftTeams.schema.json`);
});

test("the rendered manifest is valid against Microsoft's schema", (t) => {
  const validate = validator(newestSchemaVersion());
  const manifest = renderManifest(values);
  const valid = validate(manifest);
  t.true(valid, JSON.stringify(validate.errors, null, 2));
  t.like(manifest, {
    version: "1.4.0",
    bots: [{ botId: values.botAppId, scopes: ["personal"] }],
    webApplicationInfo: { id: values.entraAppId },
    validDomains: ["hearth.contoso.com"],
  });
  const tab = (manifest.staticTabs as Array<{ entityId: string; contentUrl?: string }>)[0]!;
  t.is(tab.contentUrl, "https://hearth.contoso.com/dashboard?inTeams=true");
});

test("the schema check has teeth: a broken manifest is refused", (t) => {
  const validate = validator(newestSchemaVersion());
  const manifest = renderManifest(values) as Record<string, any>;
  t.false(validate({ ...manifest, id: "not-a-guid" }));
  t.false(validate({ ...manifest, activities: { activityTypes: [{ type: "taskDue" }] } }));
  t.false(validate({ ...manifest, unknownProperty: true }));
});

test("activity types for notifications are declared, each with its template parameters", (t) => {
  const manifest = renderManifest(values) as {
    activities: { activityTypes: Array<{ type: string; templateText: string }> };
  };
  const types = Object.fromEntries(manifest.activities.activityTypes.map((a) => [a.type, a.templateText]));
  for (const type of ["taskDue", "pulseInvitation", "eventReminder", "buddyAssigned"]) t.truthy(types[type], type);
  t.regex(types.taskDue!, /\{taskName\}/);
  t.false("systemDefault" in types, "systemDefault is reserved and must not be declared");
});

test("icons: color 192×192, outline 32×32 white on transparent; both reproducible from code", (t) => {
  const color = PNG.sync.read(fs.readFileSync(path.join(TEAMS_APP_DIR, "color.png")));
  t.deepEqual([color.width, color.height], [192, 192]);
  const outline = PNG.sync.read(fs.readFileSync(path.join(TEAMS_APP_DIR, "outline.png")));
  t.deepEqual([outline.width, outline.height], [32, 32]);
  let transparent = 0;
  for (let i = 0; i < outline.data.length; i += 4) {
    const [r, g, b, a] = [outline.data[i], outline.data[i + 1], outline.data[i + 2], outline.data[i + 3]];
    if (a === 0) transparent++;
    else t.deepEqual([r, g, b], [255, 255, 255], "outline pixels are white");
  }
  t.true(transparent > 32 * 32 * 0.3, "the outline icon has a transparent background");
  t.true(Buffer.from(colorIcon()).equals(fs.readFileSync(path.join(TEAMS_APP_DIR, "color.png"))));
  t.true(Buffer.from(outlineIcon()).equals(fs.readFileSync(path.join(TEAMS_APP_DIR, "outline.png"))));
});

test("the package: manifest and icons at the root of the zip, the same bytes for the same input", (t) => {
  const zip = buildTeamsPackage(values);
  const files = unzipSync(zip);
  t.deepEqual(Object.keys(files).sort(), ["color.png", "manifest.json", "outline.png"]);
  const manifest = JSON.parse(new TextDecoder().decode(files["manifest.json"]));
  t.true(validator(newestSchemaVersion())(manifest));
  t.true(Buffer.from(buildTeamsPackage(values)).equals(Buffer.from(zip)));
});

test("refuses values Teams would reject", (t) => {
  t.throws(() => renderManifest({ ...values, botAppId: "hearth-bot" }), { message: /BOT_APP_ID.*GUID/ });
  t.throws(() => renderManifest({ ...values, publicUrl: "http://hearth.contoso.com" }), { message: /https/ });
  t.throws(() => renderManifest({ ...values, version: "1.4" }), { message: /version/ });
});
