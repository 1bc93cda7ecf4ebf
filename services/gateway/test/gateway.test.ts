import type { AddressInfo } from "node:net";
import { actionContracts } from "@hearth/contracts";
import { type DevIssuer, loadOrCreateDevIssuer } from "@hearth/platform";
import { createTestEnvironment, query, startBroker, type TestEnvironment } from "@hearth/testkit";
import { Validator } from "@seriousme/openapi-schema-validator";
import test from "ava";
import type moleculer from "moleculer";
import { createGatewayService } from "../src/gateway.service.ts";
import notes, { notesContracts } from "./fixtures/notes/notes.service.ts";

type Harness = {
  env: TestEnvironment;
  broker: moleculer.ServiceBroker;
  base: string;
  issuer: DevIssuer;
  token(upn: string, roles?: string[]): Promise<string>;
  countNotes(): Promise<number>;
};

async function startGateway(
  t: import("ava").ExecutionContext,
  envOverrides: Record<string, string> = {},
): Promise<Harness> {
  const env = await createTestEnvironment({ env: { PORT: "0", ...envOverrides } });
  t.teardown(() => env.cleanup());
  const contracts = [...Object.values(actionContracts), ...notesContracts];
  const broker = await startBroker(env.config, [createGatewayService(env.config, contracts), notes]);
  t.teardown(() => broker.stop());
  const gateway = broker.getLocalService("gateway") as unknown as { server: import("node:http").Server };
  const base = `http://127.0.0.1:${(gateway.server.address() as AddressInfo).port}`;
  if (env.config.auth.kind !== "development") throw new Error("tests use the development issuer");
  const issuer = await loadOrCreateDevIssuer({ dir: env.config.auth.keyDir });
  return {
    env,
    broker,
    base,
    issuer,
    token: (upn, roles = []) => issuer.signAccessToken({ upn, roles: roles as never }),
    countNotes: async () => (await query(env.database!.url, "select count(*)::int as n from notes.notes"))[0].n,
  };
}

async function call(
  h: Harness,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw !== undefined || opts.body !== undefined) {
    headers["content-type"] = "application/json";
    body = opts.raw ?? JSON.stringify(opts.body);
  }
  const res = await fetch(`${h.base}${path}`, { method, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

test("health answers, and ready reports the database and NATS", async (t) => {
  const h = await startGateway(t);
  const health = await call(h, "GET", "/api/health");
  t.is(health.status, 200);
  t.is(health.json.status, "alive");
  const ready = await call(h, "GET", "/api/ready");
  t.is(ready.status, 200);
  t.is(ready.json.status, "ready");
  t.deepEqual(
    ready.json.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
    [
      ["database:notes", true],
      ["nats", true],
    ],
  );
});

test("/me returns the verified caller with roles; Employee is always included", async (t) => {
  const h = await startGateway(t);
  const res = await call(h, "GET", "/api/v1/me", { token: await h.token("hr@contoso.example", ["HR"]) });
  t.is(res.status, 200);
  t.is(res.json.upn, "hr@contoso.example");
  t.is(res.json.tenantId, h.issuer.tenantId);
  t.deepEqual([...res.json.roles].sort(), ["Employee", "HR"]);
});

test("no token, a malformed header, or a rejected token get 401 in the envelope", async (t) => {
  const h = await startGateway(t);
  const none = await call(h, "GET", "/api/v1/me");
  t.is(none.status, 401);
  t.is(none.json.error.code, "UNAUTHORIZED");
  const basic = await call(h, "GET", "/api/v1/me", { headers: { authorization: "Basic abc" } });
  t.is(basic.status, 401);
  t.is(basic.json.error.code, "INVALID_TOKEN");
  const expired = await h.issuer.signAccessToken({ upn: "a@contoso.example", expiresInSeconds: -600 });
  const res = await call(h, "GET", "/api/v1/me", { token: expired });
  t.is(res.status, 401);
  t.is(res.json.error.code, "INVALID_TOKEN");
  t.regex(res.json.error.message, /expired/);
  const wrongAudience = await h.issuer.signAccessToken({
    upn: "a@contoso.example",
    audience: "https://graph.microsoft.com",
  });
  t.is((await call(h, "GET", "/api/v1/me", { token: wrongAudience })).status, 401);
});

test("a bad request gets 422 naming each field and writes nothing", async (t) => {
  const h = await startGateway(t);
  const token = await h.token("cm@contoso.example", ["CommunityManager"]);
  const res = await call(h, "POST", "/api/v1/notes", { token, body: { title: "", body: 42, pinned: "yes" } });
  t.is(res.status, 422);
  t.is(res.json.error.code, "VALIDATION_FAILED");
  t.deepEqual(res.json.error.fields.map((f: { field: string }) => f.field).sort(), ["body", "pinned", "title"]);
  t.is(await h.countNotes(), 0);

  const ok = await call(h, "POST", "/api/v1/notes", { token, body: { title: "Welcome", body: "Hello" } });
  t.is(ok.status, 201);
  t.is(ok.json.title, "Welcome");
  t.is(ok.headers.get("location"), `/api/v1/notes/${ok.json.id}`);
  t.is((await call(h, "GET", ok.headers.get("location")!, { token })).json.title, "Welcome");
  t.is(await h.countNotes(), 1);
});

test("malformed JSON is a 400, an oversized body a 413, and neither writes", async (t) => {
  const h = await startGateway(t, { BODY_LIMIT: "1kb" });
  const token = await h.token("cm@contoso.example", ["CommunityManager"]);
  const malformed = await call(h, "POST", "/api/v1/notes", { token, raw: '{"title": "x",' });
  t.is(malformed.status, 400);
  t.is(malformed.json.error.code, "MALFORMED_JSON");
  const huge = await call(h, "POST", "/api/v1/notes", { token, body: { title: "x", body: "y".repeat(5000) } });
  t.is(huge.status, 413);
  t.is(huge.json.error.code, "PAYLOAD_TOO_LARGE");
  t.is(await h.countNotes(), 0);
});

test("roles are enforced: an Employee may read but not write (403, nothing written)", async (t) => {
  const h = await startGateway(t);
  const employee = await h.token("emp@contoso.example");
  const res = await call(h, "POST", "/api/v1/notes", { token: employee, body: { title: "Mine" } });
  t.is(res.status, 403);
  t.is(res.json.error.code, "FORBIDDEN");
  t.is(await h.countNotes(), 0);
  t.is((await call(h, "GET", "/api/v1/notes", { token: employee })).status, 200);
});

test("unknown routes and auto-mapped action paths are 404; a missing object is 404", async (t) => {
  const h = await startGateway(t);
  const token = await h.token("cm@contoso.example", ["CommunityManager"]);
  for (const path of [
    "/api/v1/nope",
    "/api/v1/notes.create",
    "/api/v1/notes/create",
    "/api/notes.list",
    "/api/v1/gateway/whoAmI",
  ]) {
    const res = await call(h, "POST", path, { token, body: { title: "x" } });
    t.is(res.status, 404, path);
    t.is(res.json.error.status, 404);
  }
  t.is(await h.countNotes(), 0);
  const missing = await call(h, "GET", `/api/v1/notes/${crypto.randomUUID()}`, { token });
  t.is(missing.status, 404);
  t.is(missing.json.error.code, "NOT_FOUND");
  const notGuid = await call(h, "GET", "/api/v1/notes/not-a-guid", { token });
  t.is(notGuid.status, 422);
  t.deepEqual(
    notGuid.json.error.fields.map((f: { field: string }) => f.field),
    ["id"],
  );
});

test("the rate limit is per caller, and X-Forwarded-For does not change whose budget is spent", async (t) => {
  const h = await startGateway(t, { RATE_LIMIT_PER_MINUTE: "5" });
  const alice = await h.token("alice@contoso.example");
  const statuses = [];
  for (let i = 0; i < 7; i++) {
    const res = await call(h, "GET", "/api/v1/me", { token: alice, headers: { "x-forwarded-for": `10.0.0.${i}` } });
    statuses.push(res.status);
    if (res.status === 429) {
      t.is(res.json.error.code, "RATE_LIMITED");
      t.true(Number(res.headers.get("retry-after")) >= 1);
    }
  }
  t.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
  const bob = await h.token("bob@contoso.example");
  t.is((await call(h, "GET", "/api/v1/me", { token: bob })).status, 200);
});

test("a route whose service is down answers 503 with Retry-After", async (t) => {
  const h = await startGateway(t);
  const token = await h.token("emp@contoso.example");
  await h.broker.destroyService(h.broker.getLocalService("notes")!);
  const res = await call(h, "GET", "/api/v1/notes", { token });
  t.is(res.status, 503);
  t.is(res.json.error.code, "SERVICE_UNAVAILABLE");
  t.truthy(res.headers.get("retry-after"));
});

test("the OpenAPI document is valid 3.1 and describes every published route with its security", async (t) => {
  const h = await startGateway(t);
  const res = await call(h, "GET", "/api/openapi.json");
  t.is(res.status, 200);
  // Internal actions never appear.
  t.false(JSON.stringify(res.json.paths).includes("readDirectoryChanges"));
  const validator = new Validator();
  const result = await validator.validate(res.json);
  t.true(result.valid, JSON.stringify(result.errors));
  t.is(res.json.openapi, "3.1.0");
  const published = [...Object.values(actionContracts), ...notesContracts].filter((c) => c.rest);
  for (const contract of published) {
    const [method, path] = contract.rest!.split(" ");
    const op = res.json.paths[`/api/v1${path!.replace(/:(\w+)/g, "{$1}")}`]?.[method!.toLowerCase()];
    t.truthy(op, contract.rest);
    t.deepEqual(op.security, [{ bearerAuth: [] }]);
    t.truthy(op.responses[String(contract.successStatus ?? 200)]);
    t.truthy(op.responses["422"]);
  }
  const create = res.json.paths["/api/v1/notes"].post;
  const body = create.requestBody.content["application/json"].schema;
  t.deepEqual(body.required, ["title"]);
  t.is(body.properties.title.maxLength, 100);
  const get = res.json.paths["/api/v1/notes/{id}"].get;
  t.deepEqual(
    get.parameters.map((p: { name: string; in: string }) => [p.name, p.in]),
    [["id", "path"]],
  );
  const list = res.json.paths["/api/v1/notes"].get;
  t.deepEqual(
    list.parameters.map((p: { name: string; in: string }) => [p.name, p.in]),
    [["limit", "query"]],
  );
});

test("the docs page and its assets are served locally", async (t) => {
  const h = await startGateway(t);
  const page = await call(h, "GET", "/api/docs");
  t.is(page.status, 200);
  t.regex(page.text, /swagger-ui-bundle\.js/);
  const asset = await fetch(`${h.base}/api/docs/assets/swagger-ui-bundle.js`);
  t.is(asset.status, 200);
  t.true((await asset.arrayBuffer()).byteLength > 100_000);
  t.is((await fetch(`${h.base}/api/docs/assets/..%2Fpackage.json`)).status, 404);
});
