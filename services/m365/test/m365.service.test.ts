// The m365 service in a child node (so that NODE_EXTRA_CA_CERTS is read at its start), called over NATS, against a
// local HTTPS stand-in for Entra ID and Graph: the real ClientSecretCredential, Graph client and middleware chain.
import fs from "node:fs";
import path from "node:path";
import { fromChangeRows } from "@hearth/contracts";
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
import { createCertificate, FakeGraph, type FakeUser } from "./fixtures/fake-graph.ts";

let env: TestEnvironment;
let fake: FakeGraph;
let node: ChildNode;
let broker: moleculer.ServiceBroker;
let certDir: string;
let certPath: string;
const extraNodes: ChildNode[] = [];

async function startNode(overrides: Record<string, string> = {}): Promise<ChildNode> {
  const child = spawnNode({
    serviceModules: [path.join(import.meta.dirname, "..", "src", "m365.service.ts")],
    env: {
      ...env.env,
      NODE_EXTRA_CA_CERTS: certPath,
      M365_TENANT_ID: fake.tenantId,
      M365_CLIENT_ID: "11111111-2222-4333-8444-555555555555",
      M365_CLIENT_SECRET: "not-a-secret",
      M365_AUTHORITY_HOST: fake.url,
      M365_GRAPH_URL: fake.url,
      ...overrides,
    },
  });
  await child.ready;
  return child;
}

const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;
const ZONES = ["W. Europe Standard Time", "Pacific Standard Time", "Tokyo Standard Time", "Europe/Lisbon"];

function seedUsers(count: number): FakeUser[] {
  return Array.from({ length: count }, (_, i) => ({
    id: guid(i + 1),
    displayName: `Person ${i + 1}`,
    givenName: "Person",
    surname: String(i + 1),
    mail: `p${i + 1}@contoso.example`,
    userPrincipalName: `p${i + 1}@contoso.example`,
    department: i % 2 ? "Engineering" : "Sales",
    jobTitle: "Engineer",
    officeLocation: "Lyon",
    usageLocation: "FR",
    preferredLanguage: "fr-FR",
    accountEnabled: true,
    employeeHireDate: "2025-03-01T00:00:00Z",
    employeeLeaveDateTime: null,
    managerId: i === 0 ? null : guid(1),
    timeZone: ZONES[i % ZONES.length],
    locale: "fr-FR",
  }));
}

test.before(async () => {
  const cert = createCertificate();
  certDir = cert.dir;
  fake = new FakeGraph(cert);
  await fake.start();
  fake.seed(seedUsers(100));
  env = await createTestEnvironment();
  certPath = cert.certPath;
  node = await startNode();
  broker = await startBroker(env.config, []);
  await broker.waitForServices(["m365"], 10_000);
});

test.after.always(async () => {
  await broker?.stop();
  await node?.stop();
  await Promise.all(extraNodes.map((n) => n.stop()));
  await fake?.close();
  await env?.cleanup();
  if (certDir) fs.rmSync(certDir, { recursive: true, force: true });
});

async function readAll(link?: string) {
  const ctx = broker.ContextFactory.create(broker, null as never, {}, {}) as moleculer.Context;
  const changes = [];
  let pages = 0;
  for (;;) {
    const page = await call(ctx, "m365.readDirectoryChanges", link ? { link } : {});
    pages++;
    changes.push(...fromChangeRows(page.changes));
    if (page.resyncRequired) return { changes, pages, resyncRequired: true, deltaLink: undefined };
    if (page.nextLink) link = page.nextLink;
    else return { changes, pages, resyncRequired: false, deltaLink: page.deltaLink };
  }
}

function ctxOf() {
  return broker.ContextFactory.create(broker, null as never, {}, {}) as moleculer.Context;
}

test.serial(
  "a full read pages through users delta with $select and a token, then a deltaLink brings hires, changes and removals",
  async (t) => {
    const full = await readAll();
    t.is(full.pages, Math.ceil(100 / fake.pageSize));
    t.is(full.changes.length, 100);
    t.truthy(full.deltaLink);
    const first = full.changes.find((c) => c.kind === "upsert" && c.user.id === guid(2));
    t.deepEqual(first, {
      kind: "upsert",
      user: {
        id: guid(2),
        displayName: "Person 2",
        givenName: "Person",
        surname: "2",
        mail: "p2@contoso.example",
        userPrincipalName: "p2@contoso.example",
        department: "Engineering",
        jobTitle: "Engineer",
        officeLocation: "Lyon",
        country: "FR",
        preferredLanguage: "fr-FR",
        accountEnabled: true,
        employeeHireDate: "2025-03-01T00:00:00Z",
        employeeLeaveDateTime: null,
        managerId: guid(1),
      },
    });
    const graph = fake.graphRequests();
    t.regex(
      decodeURIComponent(graph[0].path),
      /^\/v1\.0\/users\/delta\?\$select=id,displayName,.*usageLocation.*,manager$/,
    );
    t.true(
      graph.every((r) => r.authorization?.startsWith("Bearer fake-token-")),
      "every Graph request carries the app token",
    );
    const tokenCalls = fake.requests.filter((r) => r.path.split("?")[0].endsWith("/oauth2/v2.0/token"));
    t.is(tokenCalls.length, 1, "the token is cached");
    t.regex(decodeURIComponent(String(tokenCalls[0].body)), /scope=https:\/\/graph\.microsoft\.com\/\.default/);

    fake.hire({ ...seedUsers(1)[0], id: guid(500), displayName: "New Hire", managerId: guid(3) });
    fake.change(guid(7), { jobTitle: "Lead", managerId: null });
    fake.remove(guid(9), "deleted");
    fake.remove(guid(10), "changed");
    const delta = await readAll(full.deltaLink);
    t.deepEqual(
      delta.changes.map((c) => (c.kind === "upsert" ? [c.kind, c.user.id] : [c.kind, c.id, c.reason])),
      [
        ["upsert", guid(500)],
        ["upsert", guid(7)],
        ["removed", guid(9), "deleted"],
        ["removed", guid(10), "changed"],
      ],
    );
    t.like(delta.changes[0], { user: { displayName: "New Hire", managerId: guid(3), country: "FR" } });
    t.deepEqual(delta.changes[1], { kind: "upsert", user: { id: guid(7), jobTitle: "Lead", managerId: null } });
    t.truthy(delta.deltaLink);
    t.not(delta.deltaLink, full.deltaLink);
  },
);

test.serial("an expired delta token (410) asks the caller to resync, with no changes", async (t) => {
  const { deltaLink } = await readAll();
  fake.expiredDeltaTokens.add(new URL(deltaLink!).searchParams.get("$deltatoken")!);
  const page = await call(ctxOf(), "m365.readDirectoryChanges", { link: deltaLink! });
  t.deepEqual(page.changes, []);
  t.true(page.resyncRequired);
  t.false("nextLink" in page || "deltaLink" in page);
});

test.serial("a delta link to another host is refused (the token must not leave for it)", async (t) => {
  await t.throwsAsync(call(ctxOf(), "m365.readDirectoryChanges", { link: "https://evil.example/v1.0/users/delta" }), {
    message: /must point at/,
  });
});

test.serial(
  "mailbox settings of 100 users: $batch of ≤ 20, Windows zones as IANA, a user without mailbox gets an error entry, throttled sub-requests retried alone",
  async (t) => {
    const ids = Array.from({ length: 100 }, (_, i) => guid(i + 1)).filter((id) => fake.users.has(id));
    ids.push(guid(9), guid(10)); // removed above: Graph answers 404 for them
    fake.noMailbox.add(guid(4));
    for (const i of [5, 6, 25, 77]) fake.throttleSubRequestsOnce.add(guid(i));
    const before = fake.requests.length;
    const { settings } = await call(ctxOf(), "m365.readMailboxSettings", { userIds: ids.slice(0, 100) });
    t.is(settings.length, 100);
    t.deepEqual(
      settings.map((s) => s.userId),
      ids.slice(0, 100),
      "one entry per user, in the order asked",
    );
    const byId = new Map(settings.map((s) => [s.userId, s]));
    t.deepEqual(byId.get(guid(1)), { userId: guid(1), timeZone: "Europe/Berlin", locale: "fr-FR" });
    t.is(byId.get(guid(2))?.timeZone, "America/Los_Angeles");
    t.is(byId.get(guid(3))?.timeZone, "Asia/Tokyo");
    t.is(byId.get(guid(8))?.timeZone, "Europe/Lisbon");
    t.is(byId.get(guid(5))?.timeZone, "Europe/Berlin", "throttled once, then read");
    t.like(byId.get(guid(4)), { timeZone: null, locale: null });
    t.regex(byId.get(guid(4))!.error!, /MailboxNotEnabledForRESTAPI/);
    const batches = fake.requests.slice(before).filter((r) => r.path === "/v1.0/$batch");
    const sizes = batches.map((b) => (b.body as { requests: unknown[] }).requests.length);
    t.true(
      sizes.every((n) => n <= 20),
      `batch sizes ${sizes}`,
    );
    t.is(sizes.filter((n) => n === 20).length, 5);
    const retried = batches.filter((b) => (b.body as { requests: unknown[] }).requests.length < 20);
    t.deepEqual(
      retried
        .flatMap((b) => (b.body as { requests: Array<{ url: string }> }).requests.map((r) => r.url.split("/")[2]))
        .sort(),
      [guid(5), guid(6), guid(25), guid(77)].sort(),
      "only the throttled sub-requests are sent again",
    );
    const rows = await query(
      env.database!.url,
      "select count(*)::int as n from m365.budget where limit_class = 'outlookMailbox'",
    );
    t.is(rows[0].n, 100, "one Outlook budget per mailbox");
  },
);

test.serial(
  "a throttled Graph answer (429) pauses the class for its Retry-After, then the read completes",
  async (t) => {
    fake.throttleRequests = 2;
    fake.throttleRetryAfter = "0.4";
    const started = Date.now();
    const { changes } = await readAll();
    t.true(Date.now() - started >= 780, "two Retry-After waits of 0.4 s");
    t.is(changes.length, fake.users.size);
    const [row] = await query(
      env.database!.url,
      "select paused_until is not null as paused from m365.budget where limit_class = 'identityRead'",
    );
    t.true(row.paused, "the pause was recorded for every replica");
    fake.throttleRetryAfter = "0.3";
  },
);

test.serial("a $batch throttled past the middleware's attempts is sent again as a whole", async (t) => {
  fake.throttleRequests = 7; // M365_MAX_ATTEMPTS is 6
  fake.throttleRetryAfter = "0.05";
  t.teardown(() => {
    fake.throttleRequests = 0;
    fake.throttleRetryAfter = "0.3";
  });
  const ids = [guid(1), guid(2), guid(3)];
  const { settings } = await call(ctxOf(), "m365.readMailboxSettings", { userIds: ids }, { retries: 0 });
  t.deepEqual(
    settings.map((s) => s.timeZone),
    ["Europe/Berlin", "America/Los_Angeles", "Asia/Tokyo"],
  );
  t.is(fake.throttleRequests, 0);
});

test.serial("a permission the tenant did not grant becomes M365_PERMISSION_MISSING, naming it", async (t) => {
  fake.deniedPermission = true;
  t.teardown(() => {
    fake.deniedPermission = false;
  });
  const error = await t.throwsAsync(call(ctxOf(), "m365.readDirectoryChanges", {}));
  t.like(error, { code: 403, type: "M365_PERMISSION_MISSING" } as never);
  t.regex(error!.message, /User\.Read\.All/);
  t.regex(error!.message, /readDirectoryChanges/);
});

test.serial("Graph out of reach becomes a retryable M365_UNREACHABLE", async (t) => {
  const closed = await startNode({ M365_GRAPH_URL: "https://localhost:9" });
  extraNodes.push(closed);
  await waitFor(
    "the second m365 node",
    async () =>
      broker.registry.getServiceList({ onlyAvailable: true }) as unknown as Array<{ name: string; nodeID: string }>,
    (list) => list.some((s) => s.name === "m365" && s.nodeID === closed.nodeID),
    10_000,
  );
  const error = await t.throwsAsync(
    call(ctxOf(), "m365.readDirectoryChanges", {}, { nodeID: closed.nodeID, retries: 0 }),
  );
  t.like(error, { code: 503, type: "M365_UNREACHABLE", retryable: true } as never);
});
