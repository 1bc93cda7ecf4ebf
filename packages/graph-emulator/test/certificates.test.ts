import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import test from "ava";
import { startGraphEmulator, writeCaCertificate } from "../src/index.ts";
import { request } from "./helpers/emulator.ts";

test("the CA and key persist in dataDir, so a restarted emulator is trusted by the same CA file", async (t) => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "graph-emulator-test-"));
  t.teardown(() => fs.rm(dataDir, { recursive: true, force: true }));
  const first = await startGraphEmulator({ dataDir, tenant: { users: 3, seed: 1 }, throttling: false });
  const caPem = await fs.readFile(first.caCertPath, "utf8");
  t.is(path.dirname(first.caCertPath), dataDir);
  t.is((await request(first, `/${first.tenantId}/discovery/v2.0/keys`)).status, 200);
  const firstKeys = (await request(first, `/${first.tenantId}/discovery/v2.0/keys`)).body;
  await first.close();

  const second = await startGraphEmulator({ dataDir, tenant: { users: 3, seed: 1 }, throttling: false });
  t.teardown(() => second.close());
  t.is(await fs.readFile(second.caCertPath, "utf8"), caPem);
  const secondKeys = (await request(second, `/${second.tenantId}/discovery/v2.0/keys`)).body;
  t.deepEqual(
    secondKeys.keys.map((key: { kid: string }) => key.kid),
    firstKeys.keys.map((key: { kid: string }) => key.kid),
  );

  const copy = path.join(dataDir, "copy", "ca.pem");
  await writeCaCertificate(dataDir, copy);
  t.is(await fs.readFile(copy, "utf8"), caPem);
});

test("a client that does not trust the CA is refused; one that does connects to 127.0.0.1 and localhost", async (t) => {
  const emulator = await startGraphEmulator({ tenant: { users: 1, seed: 1 }, throttling: false });
  t.teardown(() => emulator.close());
  await t.throwsAsync(fetch(`${emulator.url}/${emulator.tenantId}/discovery/v2.0/keys`));
  t.is((await request(emulator, `/${emulator.tenantId}/discovery/v2.0/keys`)).status, 200);
  t.is(
    (await request(emulator, `https://localhost:${emulator.port}/${emulator.tenantId}/discovery/v2.0/keys`)).status,
    200,
  );
});
