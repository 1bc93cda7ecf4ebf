// The m365 service against packages/graph-emulator: a seeded tenant over HTTPS with Entra's token endpoint, users
// delta, mailboxSettings, $batch, permissions and throttling. The service runs in a child node that trusts the
// emulator's CA through NODE_EXTRA_CA_CERTS (read only at process start), and is called over NATS.
import path from "node:path";
import { fromChangeRows } from "@hearth/contracts";
import { type GraphEmulator, m365ClientEnv, startGraphEmulator } from "@hearth/graph-emulator";
import { call } from "@hearth/platform";
import {
  type ChildNode,
  createTestEnvironment,
  query,
  spawnNode,
  startBroker,
  type TestEnvironment,
  waitFor,
} from "@hearth/testkit";
import test from "ava";
import type moleculer from "moleculer";
import { findIana } from "windows-iana";

let env: TestEnvironment;
let emulator: GraphEmulator;
let broker: moleculer.ServiceBroker;
const nodes: ChildNode[] = [];

const SERVICE = path.join(import.meta.dirname, "..", "src", "m365.service.ts");

async function startM365Node(overrides: Record<string, string> = {}): Promise<ChildNode> {
  const node = spawnNode({
    serviceModules: [SERVICE],
    env: {
      ...env.env,
      ...m365ClientEnv(emulator),
      ...overrides,
    },
  });
  nodes.push(node);
  await node.ready;
  return node;
}

test.before(async () => {
  emulator = await startGraphEmulator({
    port: 0,
    tenant: { users: 240, seed: "hearth-m365" },
    timeScale: 100,
    throttling: false,
    deltaPageSize: 50,
  });
  env = await createTestEnvironment();
  await startM365Node();
  broker = await startBroker(env.config, []);
  await broker.waitForServices(["m365"], 10_000);
});

test.after.always(async () => {
  await broker?.stop();
  await Promise.all(nodes.map((n) => n.stop()));
  await emulator?.close();
  await env?.cleanup();
});

const ctx = () => broker.ContextFactory.create(broker, null as never, {}, {}) as moleculer.Context;

async function readAll(link?: string, nodeID?: string) {
  const changes = [];
  let pages = 0;
  for (;;) {
    const page = await call(ctx(), "m365.readDirectoryChanges", link ? { link } : {}, nodeID ? { nodeID } : undefined);
    pages++;
    changes.push(...fromChangeRows(page.changes));
    if (page.resyncRequired) return { changes, pages, resyncRequired: true, deltaLink: undefined };
    if (page.nextLink) link = page.nextLink;
    else return { changes, pages, resyncRequired: false, deltaLink: page.deltaLink };
  }
}

test.serial("pageSize asks Graph for pages of that size (Prefer: odata.maxpagesize) on every page", async (t) => {
  const sizes: number[] = [];
  let link: string | undefined;
  do {
    const page = await call(ctx(), "m365.readDirectoryChanges", { ...(link ? { link } : {}), pageSize: 120 });
    sizes.push(page.changes.length);
    link = page.nextLink;
  } while (link);
  t.deepEqual(sizes, [120, living().length - 120]);
});

async function discovered(node: ChildNode) {
  await waitFor(
    `m365 on ${node.nodeID}`,
    async () =>
      broker.registry.getServiceList({ onlyAvailable: true }) as unknown as Array<{ name: string; nodeID: string }>,
    (list) => list.some((s) => s.name === "m365" && s.nodeID === node.nodeID),
    10_000,
  );
}

const living = () => emulator.control.tenant.records.filter((r) => !r.removed);

test.serial("a full read of the seeded tenant, then hires, changes and removals through the deltaLink", async (t) => {
  const full = await readAll();
  const users = living();
  t.is(full.changes.length, users.length);
  t.true(full.pages >= Math.ceil(users.length / 50));
  t.truthy(full.deltaLink);
  const byId = new Map(full.changes.map((c) => [c.kind === "upsert" ? c.user.id : c.id, c]));
  for (const record of users) {
    const change = byId.get(record.data.id);
    t.like(change, {
      kind: "upsert",
      user: {
        displayName: record.data.displayName,
        department: record.data.department,
        jobTitle: record.data.jobTitle,
        country: record.data.usageLocation,
        accountEnabled: record.data.accountEnabled,
      },
    });
    if (record.managerId) t.is((change as { user: { managerId?: string } }).user.managerId, record.managerId);
  }

  const manager = users[0].data.id;
  const hired = emulator.control.hire({ department: "Research", managerId: manager });
  const changed = users[5].data.id;
  emulator.control.change(changed, { jobTitle: "Principal Engineer" });
  const left = users[7].data.id;
  emulator.control.remove(left);
  const gone = users[8].data.id;
  emulator.control.remove(gone, { hard: true });

  const delta = await readAll(full.deltaLink);
  const seen = new Map(delta.changes.map((c) => [c.kind === "upsert" ? c.user.id : c.id, c]));
  t.like(seen.get(hired.id), { kind: "upsert", user: { department: "Research", managerId: manager } });
  t.like(seen.get(changed), { kind: "upsert", user: { jobTitle: "Principal Engineer" } });
  t.deepEqual(seen.get(left), { kind: "removed", id: left, reason: "changed" });
  t.deepEqual(seen.get(gone), { kind: "removed", id: gone, reason: "deleted" });
  t.truthy(delta.deltaLink);
});

test.serial("an expired delta token gives resyncRequired and no changes", async (t) => {
  const { deltaLink } = await readAll();
  emulator.control.expireDeltaTokens();
  const page = await call(ctx(), "m365.readDirectoryChanges", { link: deltaLink! });
  t.deepEqual(page.changes, []);
  t.true(page.resyncRequired);
  t.false("nextLink" in page || "deltaLink" in page);
});

test.serial(
  "mailbox settings of 100 users, Windows zones converted to IANA; a user without mailbox gets an error entry",
  async (t) => {
    const noMailbox = emulator.control.hire({ hasMailbox: false });
    const users = living()
      .filter((r) => r.mailbox)
      .slice(0, 99);
    const ids = [...users.map((r) => r.data.id), noMailbox.id];
    const { settings } = await call(ctx(), "m365.readMailboxSettings", { userIds: ids });
    t.is(settings.length, 100);
    for (const record of users) {
      const entry = settings.find((s) => s.userId === record.data.id)!;
      const zone = record.mailbox!.timeZone;
      t.is(entry.timeZone, findIana(zone)[0] ?? zone, `${record.data.id}: ${zone}`);
      t.is(entry.locale, record.mailbox!.locale);
      t.is(entry.error, undefined);
    }
    const missing = settings.find((s) => s.userId === noMailbox.id)!;
    t.like(missing, { timeZone: null, locale: null });
    t.regex(missing.error!, /MailboxNotEnabledForRESTAPI/);
    t.true(settings.some((s) => s.timeZone?.includes("/")));
  },
);

test.serial("with throttling on, a full read and 100 mailbox settings still complete", async (t) => {
  emulator.control.setThrottling({
    // Fixed windows of 0.4 s (timeScale 100): the second page of a read always lands in the first page's window.
    identity: { limit: 2, windowSeconds: 40 },
    outlook: { limit: 10_000, windowSeconds: 600, concurrent: 2 },
  });
  t.teardown(() => emulator.control.setThrottling(false));
  const full = await readAll();
  t.is(full.changes.length, living().length);
  // Sub-requests of a $batch count one by one: a low app-wide limit throttles some of them.
  emulator.control.setThrottling({ global: { limit: 60, windowSeconds: 40 } });
  const ids = living()
    .filter((r) => r.mailbox)
    .slice(0, 100)
    .map((r) => r.data.id);
  const { settings } = await call(ctx(), "m365.readMailboxSettings", { userIds: ids });
  t.is(settings.filter((s) => !s.error && s.timeZone).length, ids.length);
  // Only a 429 pauses a budget: the emulator did throttle both classes, and the service waited and retried.
  const paused = await query(
    env.database!.url,
    "select limit_class, count(*)::int as n from m365.budget where paused_until is not null group by limit_class order by 1",
  );
  t.deepEqual(
    paused.map((r) => r.limit_class),
    ["identityRead", "outlookMailbox"],
  );
});

test.serial(
  "a permission the tenant revoked becomes M365_PERMISSION_MISSING on a node with a fresh token",
  async (t) => {
    const app = emulator.control.app();
    const readPermissions = app.permissions.filter((p) => /^(User|Directory)\.(Read|ReadWrite)\.All$/.test(p));
    for (const p of readPermissions) emulator.control.revoke(p);
    t.teardown(() => {
      for (const p of readPermissions) emulator.control.grant(p);
    });
    // Entra keeps the roles of tokens already issued: a node started now gets a token without the permission.
    const fresh = await startM365Node();
    await waitFor(
      "the new m365 node",
      async () =>
        broker.registry.getServiceList({ onlyAvailable: true }) as unknown as Array<{ name: string; nodeID: string }>,
      (list) => list.some((s) => s.name === "m365" && s.nodeID === fresh.nodeID),
      10_000,
    );
    const error = await t.throwsAsync(
      call(ctx(), "m365.readDirectoryChanges", {}, { nodeID: fresh.nodeID, retries: 0 }),
    );
    t.like(error, { code: 403, type: "M365_PERMISSION_MISSING" } as never);
    t.regex(error!.message, /User\.Read\.All/);
  },
);

test.serial(
  "a wrong client secret becomes M365_AUTHENTICATION_FAILED with Entra's reason, not a retry storm",
  async (t) => {
    const wrong = await startM365Node({ M365_CLIENT_SECRET: "wrong-secret" });
    await discovered(wrong);
    const error = await t.throwsAsync(
      call(ctx(), "m365.readDirectoryChanges", {}, { nodeID: wrong.nodeID, retries: 0 }),
    );
    t.like(error, { code: 502, type: "M365_AUTHENTICATION_FAILED" } as never);
    t.regex(error!.message, /AADSTS7000215|[Ii]nvalid client secret/);
  },
);
