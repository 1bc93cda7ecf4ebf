import type { AddressInfo } from "node:net";
import { actionContracts } from "@hearth/contracts";
import { createGatewayService } from "@hearth/gateway/src/gateway.service.ts";
import { demoUserObjectId, loadOrCreateDevIssuer } from "@hearth/platform";
import { createTestEnvironment, query, startBroker } from "@hearth/testkit";
import type { ExecutionContext } from "ava";
import type moleculer from "moleculer";
import { createPulseService, type PulseThis } from "../src/pulse.service.ts";

export const oid = demoUserObjectId;

export type FakePerson = {
  upn: string;
  department: string;
  office: string;
  hireDate: string;
  managerUpn: string | null;
  timeZone?: string;
};

/** A directory of people as the people contract returns it. */
export function fakePeopleService(people: FakePerson[]): moleculer.ServiceSchema {
  return {
    name: "people",
    actions: {
      listEmployees: {
        visibility: "public",
        handler() {
          return {
            items: people.map((p) => ({
              id: oid(p.upn),
              displayName: p.upn,
              givenName: null,
              surname: null,
              mail: p.upn,
              upn: p.upn,
              department: p.department,
              jobTitle: null,
              office: p.office,
              country: null,
              timeZone: p.timeZone ?? "Europe/Berlin",
              preferredLanguage: "en",
              managerId: p.managerUpn ? oid(p.managerUpn) : null,
              hireDate: p.hireDate,
              status: "active",
            })),
          };
        },
      },
    },
  };
}

export type Sent = { templateId: string; userIds: string[]; kind?: string; dedupeKey: string; actions?: unknown[] };

/** Notifications as its contract promises: records what was sent; the governor refuses people in `overCap`. */
export function fakeNotificationsService(sent: Sent[], overCap: Set<string> = new Set()): moleculer.ServiceSchema {
  return {
    name: "notifications",
    actions: {
      notify: {
        visibility: "public",
        handler(ctx: moleculer.Context<any>) {
          sent.push({
            templateId: ctx.params.templateId,
            userIds: ctx.params.audience.userIds,
            kind: ctx.params.kind,
            dedupeKey: ctx.params.dedupeKey,
            actions: ctx.params.actions,
          });
          return { requestId: crypto.randomUUID(), accepted: ctx.params.audience.userIds.length, suppressed: 0 };
        },
      },
      checkSurveyLoad: {
        visibility: "public",
        handler(ctx: moleculer.Context<any>) {
          return {
            cap: 4,
            period: "month",
            users: ctx.params.userIds.map((userId: string) => ({
              userId,
              allowed: !overCap.has(userId),
              count: overCap.has(userId) ? 4 : 0,
              cap: 4,
            })),
          };
        },
      },
    },
  };
}

export async function startPulse(
  t: ExecutionContext,
  people: FakePerson[],
  overCap: Set<string> = new Set(),
  seed = false,
) {
  const env = await createTestEnvironment({
    nats: false,
    env: { PORT: "0", SEED_DEMO: seed ? "always" : "off", RATE_LIMIT_PER_MINUTE: "100000" },
  });
  t.teardown(() => env.cleanup());
  const sent: Sent[] = [];
  const broker = await startBroker(env.config, [
    createGatewayService(env.config, Object.values(actionContracts)),
    createPulseService({ scheduler: false }),
    fakePeopleService(people),
    fakeNotificationsService(sent, overCap),
  ]);
  t.teardown(() => broker.stop());
  const gateway = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
  const base = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  if (env.config.auth.kind !== "development") throw new Error("tests use the development issuer");
  const issuer = await loadOrCreateDevIssuer({ dir: env.config.auth.keyDir });
  const sql = <R = any>(text: string, params: unknown[] = []) => query(env.database!.url, text, params) as Promise<R[]>;
  const pulse = broker.getLocalService("pulse") as unknown as PulseThis;
  return {
    env,
    broker,
    sent,
    sql,
    pulse,
    token: (upn: string, roles: string[] = []) => issuer.signAccessToken({ upn, roles: roles as never }),
    async http(method: string, path: string, o: { token?: string; body?: unknown } = {}) {
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
  };
}
