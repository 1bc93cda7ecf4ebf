import type { AddressInfo } from "node:net";
import { actionContracts } from "@hearth/contracts";
import { createGatewayService } from "@hearth/gateway/src/gateway.service.ts";
import { type DevIssuer, demoUserObjectId, loadOrCreateDevIssuer } from "@hearth/platform";
import { createTestEnvironment, query, startBroker, type TestEnvironment } from "@hearth/testkit";
import type { ExecutionContext } from "ava";
import type moleculer from "moleculer";
import { createPeopleService, type PeopleServiceOptions } from "../src/people.service.ts";
import { FakeDirectory, fakeM365Service } from "./fixtures/fake-m365.ts";

export type Harness = {
  env: TestEnvironment;
  broker: moleculer.ServiceBroker;
  base: string;
  issuer: DevIssuer;
  directory: FakeDirectory;
  token(upn: string, roles?: string[]): Promise<string>;
  http(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown },
  ): Promise<{ status: number; json: any; text: string }>;
  sql<R = any>(text: string, params?: unknown[]): Promise<R[]>;
  /** employee.* events in the outbox, as "event objectId" lines with counts (once mailbox settings are read). */
  eventCounts(): Promise<Map<string, number>>;
  /** Waits until no one's mailbox settings are due (their held events are then in the outbox). */
  settled(): Promise<void>;
};

export const oid = demoUserObjectId;

export async function startPeople(
  t: ExecutionContext,
  opts: { seed?: boolean; people?: PeopleServiceOptions; nats?: boolean; directory?: FakeDirectory } = {},
): Promise<Harness> {
  const env = await createTestEnvironment({
    nats: opts.nats ?? false,
    env: { PORT: "0", SEED_DEMO: opts.seed ? "always" : "off", RATE_LIMIT_PER_MINUTE: "100000" },
  });
  t.teardown(() => env.cleanup());
  const directory = opts.directory ?? new FakeDirectory();
  const broker = await startBroker(env.config, [
    createGatewayService(env.config, Object.values(actionContracts)),
    createPeopleService({ scheduler: false, ...opts.people }),
    fakeM365Service(directory),
  ]);
  t.teardown(() => broker.stop());
  const gateway = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
  const base = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  if (env.config.auth.kind !== "development") throw new Error("tests use the development issuer");
  const issuer = await loadOrCreateDevIssuer({ dir: env.config.auth.keyDir });
  const sql = <R = any>(text: string, params: unknown[] = []) => query(env.database!.url, text, params) as Promise<R[]>;
  return {
    env,
    broker,
    base,
    issuer,
    directory,
    token: (upn, roles = []) => issuer.signAccessToken({ upn, roles: roles as never }),
    async http(method, path, o = {}) {
      const headers: Record<string, string> = {};
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      if (o.body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${base}${path}`, {
        method,
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
      });
      const text = await res.text();
      let json: any;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, json, text };
    },
    sql,
    settled: () => mailboxSettingsSettled(sql),
    async eventCounts() {
      await mailboxSettingsSettled(sql);
      const rows = await sql<{ key: string; n: number }>(
        `select event || ' ' || (payload->>'objectId') as key, count(*)::int as n from people.outbox group by 1 order by 1`,
      );
      return new Map(rows.map((r) => [r.key, r.n]));
    },
  };
}

/** Mailbox settings are read after the pages are stored: waits until nobody's are due. */
export async function mailboxSettingsSettled(sql: (text: string) => Promise<any[]>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql("select count(*)::int as n from people.employees where mailbox_due");
    if (row.n === 0) return;
    if (Date.now() > deadline) throw new Error(`mailbox settings of ${row.n} people still due`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function countBy(counts: Map<string, number>, event: string): number {
  let n = 0;
  for (const [key, value] of counts) if (key.startsWith(`${event} `)) n += value;
  return n;
}
