import test from "ava";
import { request, startForTest } from "./helpers/emulator.ts";

const setup = startForTest({ tenant: { users: 40, seed: 8 } });
test.after.always(async () => (await setup).emulator.close());

const batch = async (requests: unknown[]) => {
  const { emulator, token } = await setup;
  return request(emulator, "/v1.0/$batch", { method: "POST", token, body: { requests } });
};

test("sub-requests use relative URLs without the version and come back with their own status, headers and body", async (t) => {
  const { emulator } = await setup;
  const [a, b] = emulator.control.tenant.records.slice(3, 5).map((record) => record.data);
  const response = await batch([
    { id: "1", method: "GET", url: `/users/${a!.id}?$select=displayName` },
    { id: "2", method: "GET", url: `users/${b!.userPrincipalName}/mailboxSettings` },
    { id: "3", method: "GET", url: "/v1.0/users" },
    { id: "4", method: "GET", url: "https://graph.microsoft.com/v1.0/users" },
  ]);
  t.is(response.status, 200);
  const byId = Object.fromEntries(response.body.responses.map((sub: { id: string }) => [sub.id, sub]));
  t.is(byId["1"].status, 200);
  t.is(byId["1"].body.displayName, a!.displayName);
  t.regex(byId["1"].headers["Content-Type"], /^application\/json/);
  t.true([200, 404].includes(byId["2"].status));
  t.is(byId["3"].status, 400);
  t.is(byId["3"].body.error.message, "Resource not found for the segment 'v1.0'.");
  t.is(byId["4"].status, 400);
});

test("more than 20 requests is a 400 for the whole batch", async (t) => {
  const requests = Array.from({ length: 21 }, (_, i) => ({ id: String(i + 1), method: "GET", url: "/users?$top=1" }));
  const response = await batch(requests);
  t.is(response.status, 400);
  t.is(response.body.error.code, "BadRequest");
  t.is((await batch(requests.slice(0, 20))).status, 200);
});

test("a sub-request with a body but no Content-Type fails alone with 400", async (t) => {
  const response = await batch([
    { id: "1", method: "POST", url: "/users/x/sendMail", body: { message: {} } },
    { id: "2", method: "GET", url: "/users?$top=1" },
  ]);
  const byId = Object.fromEntries(response.body.responses.map((sub: { id: string }) => [sub.id, sub]));
  t.is(byId["1"].status, 400);
  t.regex(byId["1"].body.error.message, /Content-Type/);
  t.is(byId["2"].status, 200);
});

test("dependsOn runs after its dependency, and dependents of a failed request get 424", async (t) => {
  const { emulator } = await setup;
  const user = emulator.control.tenant.records[9]!.data;
  const response = await batch([
    { id: "a", method: "GET", url: "/users/00000000-0000-4000-8000-00000000dead" },
    { id: "b", method: "GET", url: `/users/${user.id}`, dependsOn: ["a"] },
    { id: "c", method: "GET", url: `/users/${user.id}/manager`, dependsOn: ["b"] },
    { id: "d", method: "GET", url: `/users/${user.id}` },
    { id: "e", method: "GET", url: `/users/${user.id}/manager`, dependsOn: ["d"] },
  ]);
  const byId = Object.fromEntries(response.body.responses.map((sub: { id: string }) => [sub.id, sub]));
  t.is(byId.a.status, 404);
  t.is(byId.b.status, 424);
  t.is(byId.c.status, 424);
  t.is(byId.d.status, 200);
  t.is(byId.e.status, 200);
  const unknownDependency = await batch([{ id: "1", method: "GET", url: "/users", dependsOn: ["9"] }]);
  t.is(unknownDependency.status, 400);
});

test("a $batch inside a $batch is refused", async (t) => {
  const response = await batch([
    {
      id: "1",
      method: "POST",
      url: "/$batch",
      headers: { "content-type": "application/json" },
      body: { requests: [] },
    },
  ]);
  t.is(response.body.responses[0].status, 400);
});

test("responses come back in shuffled order", async (t) => {
  const requests = Array.from({ length: 20 }, (_, i) => ({
    id: String(i + 1),
    method: "GET",
    url: "/users?$top=1&$select=id",
  }));
  const orders = new Set<string>();
  for (let i = 0; i < 5; i++)
    orders.add((await batch(requests)).body.responses.map((sub: { id: string }) => sub.id).join(","));
  t.false(orders.has(requests.map((r) => r.id).join(",")) && orders.size === 1);
  t.true(orders.size > 1);
});

test("each sub-request is throttled on its own: 429 sub-responses with their own Retry-After", async (t) => {
  const { emulator, token } = await startForTest({
    tenant: { users: 10, seed: 1 },
    throttling: { identity: { limit: 10, windowSeconds: 10 } },
    timeScale: 2,
  });
  t.teardown(() => emulator.close());
  const requests = Array.from({ length: 8 }, (_, i) => ({ id: String(i + 1), method: "GET", url: "/users?$top=1" }));
  const response = await request(emulator, "/v1.0/$batch", { method: "POST", token, body: { requests } });
  t.is(response.status, 200);
  const statuses = response.body.responses.map((sub: { status: number }) => sub.status).sort();
  // GET users without $select costs 2 units: 5 fit in 10.
  t.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
  for (const sub of response.body.responses.filter((sub: { status: number }) => sub.status === 429)) {
    t.is(sub.body.error.code, "TooManyRequests");
    const retryAfter = Number(sub.headers["Retry-After"]);
    // 10 s window / timeScale 2 = 5 s (long enough that a loaded machine cannot roll the window over mid-batch).
    t.true(retryAfter > 0 && retryAfter <= 5, String(retryAfter));
  }
});
