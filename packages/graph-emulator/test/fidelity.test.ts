// Every object every route returns, checked property by property against Microsoft's own type definitions
// (contract/graph-v1.0-subset.json): declared on the type or a base type, JSON type matching the Edm type, enum
// members valid, collections as arrays, non-nullable properties not null, id present on entities.
import test from "ava";
import { allProperties } from "../src/contract.ts";
import { checkAgainstContract, loadContract } from "../src/index.ts";
import { deltaRound } from "./helpers/delta.ts";
import type { HttpResult } from "./helpers/emulator.ts";
import { request, startForTest } from "./helpers/emulator.ts";

const ALL_USER_PROPERTIES = [...allProperties("microsoft.graph.user").keys()].join(",");

function assertFits(
  t: { deepEqual: (a: unknown, b: unknown, message?: string) => void },
  value: unknown,
  type: string,
  where: string,
) {
  t.deepEqual(checkAgainstContract(value, type), [], `${where} does not fit ${type}`);
}

function assertErrorEnvelope(
  t: { deepEqual: (a: unknown, b: unknown, m?: string) => void; is: (a: unknown, b: unknown, m?: string) => void },
  response: HttpResult,
  where: string,
) {
  t.deepEqual(Object.keys(response.body), ["error"], where);
  t.deepEqual(Object.keys(response.body.error), ["code", "message", "innerError"], where);
  t.deepEqual(Object.keys(response.body.error.innerError), ["date", "request-id", "client-request-id"], where);
  t.is(response.body.error.innerError["request-id"], response.headers["request-id"], where);
}

test("the checker itself catches what it should", (t) => {
  t.is(loadContract().source.commit, "f54f11b60956ea7b185ca0447b2b80805836ec7b");
  t.deepEqual(checkAgainstContract({ id: "1", displayName: "A" }, "microsoft.graph.user"), []);
  t.true(checkAgainstContract({ displayName: "A" }, "microsoft.graph.user").some((p) => p.includes("id missing")));
  t.true(checkAgainstContract({ id: "1", shoeSize: 42 }, "microsoft.graph.user").some((p) => p.includes("shoeSize")));
  t.true(
    checkAgainstContract({ id: "1", accountEnabled: "yes" }, "microsoft.graph.user").some((p) => p.includes("boolean")),
  );
  t.true(
    checkAgainstContract({ id: "1", businessPhones: "+1" }, "microsoft.graph.user").some((p) => p.includes("array")),
  );
  t.true(
    checkAgainstContract({ id: "1", businessPhones: null }, "microsoft.graph.user").some((p) => p.includes("null")),
  );
  t.true(
    checkAgainstContract({ id: "1", employeeHireDate: "soon" }, "microsoft.graph.user").some((p) =>
      p.includes("date-time"),
    ),
  );
  t.true(
    checkAgainstContract({ workingHours: { daysOfWeek: ["funday"] } }, "microsoft.graph.mailboxSettings").some((p) =>
      p.includes("funday"),
    ),
  );
  t.true(
    checkAgainstContract({ "@odata.type": "#microsoft.graph.mailboxSettings" }, "microsoft.graph.user").length > 0,
  );
});

test("every route's payloads fit the Graph v1.0 contract", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 150, seed: 77 }, deltaPageSize: 40 });
  t.teardown(() => emulator.close());
  const control = emulator.control;
  const get = async (url: string) => {
    const response = await request(emulator, url, { token });
    t.is(response.status, 200, `${url}: ${response.text.slice(0, 300)}`);
    return response.body;
  };
  let checked = 0;
  const check = (value: unknown, type: string, where: string) => {
    assertFits(t, value, type, where);
    checked++;
  };

  // GET /users: default set, every property selected, every page.
  for (const url of ["/v1.0/users?$top=999", `/v1.0/users?$top=999&$select=${ALL_USER_PROPERTIES}`]) {
    for (const user of (await get(url)).value) check(user, "microsoft.graph.user", url);
  }
  const ids = control.tenant.records.map((record) => record.data.id);
  for (const id of ids.slice(0, 40)) {
    check(await get(`/v1.0/users/${id}`), "microsoft.graph.user", "/users/{id}");
    check(
      await get(`/v1.0/users/${id}?$select=${ALL_USER_PROPERTIES}`),
      "microsoft.graph.user",
      "/users/{id}?$select=all",
    );
  }
  for (const record of control.tenant.records.slice(1, 40)) {
    check(await get(`/v1.0/users/${record.data.id}/manager`), "microsoft.graph.user", "/users/{id}/manager");
  }
  for (const record of control.tenant.records.filter((r) => r.mailbox).slice(0, 40)) {
    const settings = await get(`/v1.0/users/${record.data.id}/mailboxSettings`);
    check(settings, "microsoft.graph.mailboxSettings", "/mailboxSettings");
    check(
      await get(`/v1.0/users/${record.data.id}/mailboxSettings/language`),
      "microsoft.graph.localeInfo",
      "/mailboxSettings/language",
    );
    check(
      (await get(`/v1.0/users/${record.data.id}/mailboxSettings/timeZone`)).value,
      "Edm.String",
      "/mailboxSettings/timeZone",
    );
  }

  // users/delta: initial read (default and selected), then a change round with hires, changes and removals.
  const defaultRound = await deltaRound(emulator, token, "/v1.0/users/delta");
  for (const user of defaultRound.items) check(user, "microsoft.graph.user", "delta (default)");
  const selected = await deltaRound(emulator, token, `/v1.0/users/delta?$select=${ALL_USER_PROPERTIES},manager`);
  for (const user of selected.items) {
    check(user, "microsoft.graph.user", "delta (all)");
    for (const manager of user["manager@delta"] ?? []) check(manager, "microsoft.graph.user", "manager@delta");
  }
  control.hire({ department: "IT" });
  control.hire({ hasMailbox: false });
  control.change(ids[60]!, { department: "Legal", managerId: ids[3]! });
  control.remove(ids[20]!);
  control.remove(ids[13]!, { hard: true });
  const changes = await deltaRound(emulator, token, selected.deltaLink);
  const minimal = await deltaRound(emulator, token, selected.deltaLink, { prefer: "return=minimal" });
  t.is(minimal.items.length, changes.items.length);
  for (const user of minimal.items) check(user, "microsoft.graph.user", "delta (return=minimal)");
  t.true(changes.items.length >= 5);
  for (const user of changes.items) {
    check(user, "microsoft.graph.user", "delta (changes)");
    for (const manager of user["manager@delta"] ?? [])
      check(manager, "microsoft.graph.user", "manager@delta (changes)");
  }

  // $batch sub-response bodies are the same objects.
  const batch = await request(emulator, "/v1.0/$batch", {
    method: "POST",
    token,
    body: {
      requests: [
        { id: "1", method: "GET", url: `/users/${ids[30]}` },
        { id: "2", method: "GET", url: `/users/${ids[30]}/manager` },
        { id: "3", method: "GET", url: "/users?$top=5" },
        {
          id: "4",
          method: "GET",
          url: `/users/${control.tenant.records.find((r) => r.mailbox)!.data.id}/mailboxSettings`,
        },
      ],
    },
  });
  const byId = Object.fromEntries(batch.body.responses.map((sub: { id: string; body: unknown }) => [sub.id, sub.body]));
  check(byId["1"], "microsoft.graph.user", "batch user");
  check(byId["2"], "microsoft.graph.user", "batch manager");
  for (const user of byId["3"].value) check(user, "microsoft.graph.user", "batch users");
  check(byId["4"], "microsoft.graph.mailboxSettings", "batch mailboxSettings");
  t.log(`${checked} objects checked against ${loadContract().source.repo}@${loadContract().source.commit.slice(0, 7)}`);
});

test("every error is in Graph's envelope with request-id", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 5, seed: 1 } });
  t.teardown(() => emulator.close());
  const noMailbox = emulator.control.hire({ hasMailbox: false });
  const cases: [string, number, string?][] = [
    ["/v1.0/users/nobody", 404],
    [`/v1.0/users/${noMailbox.id}/mailboxSettings`, 404],
    ["/v1.0/users/delta?$deltatoken=expired", 410],
    ["/v1.0/users/delta?$select=nope", 400],
    ["/v1.0/nothing", 400],
    ["/v1.0/users", 401, ""],
  ];
  for (const [url, status, overrideToken] of cases) {
    const response = await request(emulator, url, { token: overrideToken ?? token });
    t.is(response.status, status, url);
    assertErrorEnvelope(t, response, url);
  }
  emulator.control.setThrottling({ identity: { limit: 1, windowSeconds: 600 } });
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 200);
  const throttled = await request(emulator, "/v1.0/users?$select=id", { token });
  t.is(throttled.status, 429);
  assertErrorEnvelope(t, throttled, "429");
});
