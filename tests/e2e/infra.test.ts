import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "@hearth/platform";
import test from "ava";

const NATS_SERVER = "/usr/sbin/nats-server";

test("the NATS configuration in infra/ is accepted by nats-server and enables JetStream", async (t) => {
  const file = path.join(REPO_ROOT, "infra/nats/nats-server.conf");
  t.regex(fs.readFileSync(file, "utf8"), /jetstream\s*\{/);
  if (!fs.existsSync(NATS_SERVER)) return t.fail(`${NATS_SERVER} is needed for this test`);
  const { stdout, stderr } = await promisify(execFile)(NATS_SERVER, ["-t", "-c", file]);
  t.regex(`${stdout}${stderr}`, /configuration file .* is valid/i);
});
