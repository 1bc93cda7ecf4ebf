import test from "ava";
import { deltaRound } from "./helpers/delta.ts";
import { request, startForTest } from "./helpers/emulator.ts";

const SELECT =
  "id,displayName,department,jobTitle,officeLocation,usageLocation,preferredLanguage,accountEnabled,employeeHireDate,manager";

test("first call reads everything in $skiptoken pages and ends with a $deltatoken deltaLink; $select is honoured", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 250, seed: 3 } });
  t.teardown(() => emulator.close());
  const first = await request(emulator, `/v1.0/users/delta?$select=${SELECT}`, { token });
  t.is(first.status, 200);
  t.true(first.body["@odata.nextLink"].startsWith(`${emulator.url}/v1.0/users/delta?$skiptoken=`));
  t.is(
    first.body["@odata.context"],
    `${emulator.url}/v1.0/$metadata#users(displayName,department,jobTitle,officeLocation,usageLocation,preferredLanguage,accountEnabled,employeeHireDate,manager)`,
  );
  const round = await deltaRound(emulator, token, `/v1.0/users/delta?$select=${SELECT}`);
  t.is(round.pages, 3);
  t.is(round.items.length, 250);
  t.is(new Set(round.items.map((user) => user.id)).size, 250);
  t.true(round.deltaLink.startsWith(`${emulator.url}/v1.0/users/delta?$deltatoken=`));
  const expected = [
    "accountEnabled",
    "department",
    "displayName",
    "employeeHireDate",
    "id",
    "jobTitle",
    "officeLocation",
    "preferredLanguage",
    "usageLocation",
  ];
  for (const user of round.items) {
    t.deepEqual(
      Object.keys(user)
        .filter((key) => key !== "manager@delta")
        .sort(),
      expected,
    );
  }
  const withManager = round.items.filter((user) => user["manager@delta"]);
  t.is(withManager.length, 249, "everyone but the CEO has a manager");
  t.deepEqual(Object.keys(withManager[0]["manager@delta"][0]).sort(), ["@odata.type", "id"]);

  const nothing = await deltaRound(emulator, token, round.deltaLink);
  t.is(nothing.items.length, 0);
});

test("later rounds return only changes: hires, changed fields, manager@delta, soft (changed) and hard (deleted) removals", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 120, seed: 5 } });
  t.teardown(() => emulator.close());
  const control = emulator.control;
  const initial = await deltaRound(emulator, token, `/v1.0/users/delta?$select=${SELECT}`);
  const records = control.tenant.records;
  // records[15] is a manager (CEO, 10 VPs, then managers), so removing them changes their reports.
  const [mover, newManager, softLeaver, hardLeaver] = [records[50]!, records[12]!, records[70]!, records[15]!];

  const hire = control.hire({
    department: "Sales",
    jobTitle: "Account Executive",
    managerId: newManager.data.id,
    employeeHireDate: "2030-02-01T00:00:00Z",
  });
  control.change(mover.data.id, { jobTitle: "Staff Engineer" });
  control.change(mover.data.id, { managerId: newManager.data.id });
  control.remove(softLeaver.data.id);
  control.remove(hardLeaver.data.id, { hard: true });

  const changes = await deltaRound(emulator, token, initial.deltaLink);
  const byId = new Map(changes.items.map((item) => [item.id, item]));
  t.is(byId.get(hire.id)?.displayName, hire.displayName);
  t.deepEqual(byId.get(hire.id)?.["manager@delta"], [
    { "@odata.type": "#microsoft.graph.user", id: newManager.data.id },
  ]);
  t.is(byId.get(mover.data.id)?.jobTitle, "Staff Engineer");
  t.deepEqual(byId.get(mover.data.id)?.["manager@delta"], [
    { "@odata.type": "#microsoft.graph.user", id: newManager.data.id },
  ]);
  t.deepEqual(byId.get(softLeaver.data.id), {
    "@odata.type": "#microsoft.graph.user",
    id: softLeaver.data.id,
    "@removed": { reason: "changed" },
  });
  t.deepEqual(byId.get(hardLeaver.data.id), {
    "@odata.type": "#microsoft.graph.user",
    id: hardLeaver.data.id,
    "@removed": { reason: "deleted" },
  });
  // A user changed twice appears once; the leavers' direct reports lost their manager, which is a change too.
  t.is(changes.items.length, byId.size);
  const orphans = records.filter(
    (record) =>
      record.managerId === null &&
      record.removed === null &&
      [softLeaver.data.id, hardLeaver.data.id].includes(record.formerManagerId ?? ""),
  );
  t.true(orphans.length > 0);
  for (const orphan of orphans) {
    t.deepEqual(byId.get(orphan.data.id)?.["manager@delta"]?.[0]?.["@removed"], { reason: "deleted" });
  }
  t.is(changes.items.length, 4 + orphans.length);
  // The $select of the first call is carried by the deltaLink.
  t.deepEqual(Object.keys(byId.get(mover.data.id)!).includes("employeeHireDate"), true);
  t.false(Object.keys(byId.get(mover.data.id)!).includes("mail"));

  const quiet = await deltaRound(emulator, token, changes.deltaLink);
  t.is(quiet.items.length, 0);
});

test("changes made while a client pages through a round are reported once, in the next round", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 30, seed: 9 }, deltaPageSize: 10 });
  t.teardown(() => emulator.close());
  const initial = await deltaRound(emulator, token, "/v1.0/users/delta?$select=id,jobTitle");
  for (let i = 0; i < 25; i++)
    emulator.control.change(emulator.control.tenant.records[i]!.data.id, { jobTitle: `Title ${i}` });
  const firstPage = await request(emulator, initial.deltaLink, { token });
  t.is(firstPage.body.value.length, 10);
  // Changed again mid-round: must not appear twice in this round, and must appear in the next.
  const late = emulator.control.tenant.records[24]!.data.id;
  emulator.control.change(late, { jobTitle: "Late change" });
  const rest = await deltaRound(emulator, token, firstPage.body["@odata.nextLink"]);
  const thisRound = [...firstPage.body.value, ...rest.items];
  t.is(new Set(thisRound.map((user) => user.id)).size, thisRound.length);
  t.false(thisRound.some((user) => user.id === late));
  const next = await deltaRound(emulator, token, rest.deltaLink);
  t.deepEqual(next.items, [{ id: late, jobTitle: "Late change" }]);
});

test("expired or unknown tokens answer 410 Gone with Graph's error body and a Location to restart from", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 20, seed: 2 }, deltaPageSize: 5 });
  t.teardown(() => emulator.close());
  const first = await request(emulator, "/v1.0/users/delta?$select=id,displayName", { token });
  const round = await deltaRound(emulator, token, "/v1.0/users/delta?$select=id,displayName");
  emulator.control.expireDeltaTokens();
  for (const url of [round.deltaLink, first.body["@odata.nextLink"]]) {
    const gone = await request(emulator, url, { token });
    t.is(gone.status, 410);
    t.is(gone.body.error.code, "syncStateNotFound");
    t.truthy(gone.body.error.innerError["request-id"]);
    t.is(gone.headers.location, `${emulator.url}/v1.0/users/delta?$select=id,displayName`);
  }
  const unknown = await request(emulator, "/v1.0/users/delta?$deltatoken=bm90LWEtdG9rZW4", { token });
  t.is(unknown.status, 410);
  const resync = await deltaRound(emulator, token, round.deltaLink.replace(/\?.*$/, "?$select=id,displayName"));
  t.is(resync.items.length, 20);
});

test("$deltatoken=latest starts tracking from now, and Prefer: odata.maxpagesize sets the page size", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 40, seed: 4 } });
  t.teardown(() => emulator.close());
  const latest = await request(emulator, "/v1.0/users/delta?$deltatoken=latest&$select=id,department", { token });
  t.is(latest.status, 200);
  t.deepEqual(latest.body.value, []);
  const hire = emulator.control.hire({ department: "Legal" });
  const changes = await deltaRound(emulator, token, latest.body["@odata.deltaLink"]);
  t.deepEqual(changes.items, [{ id: hire.id, department: "Legal" }]);

  const page = await request(emulator, "/v1.0/users/delta", { token, headers: { prefer: "odata.maxpagesize=15" } });
  t.is(page.body.value.length, 15);
  t.is(page.headers["preference-applied"], "odata.maxpagesize=15");
});

test("100,000 users: a full delta read touches each user once per page (no O(n²) paging)", async (t) => {
  const started = Date.now();
  const { emulator, token } = await startForTest({ tenant: { users: 100_000, seed: 100 } });
  t.teardown(() => emulator.close());
  const seeded = Date.now() - started;
  // Count reads of tenant.records: a page must cost about its size, wherever it is in the tenant. (Wall-clock
  // timings are for the benchmark; in a test they flake under load.)
  const tenant = emulator.control.tenant;
  let reads = 0;
  const counted = new Proxy(tenant.records, {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  Object.defineProperty(tenant, "records", { value: counted });
  const headers = { prefer: "odata.maxpagesize=999" };
  let url: string | undefined = "/v1.0/users/delta?$select=id,displayName,department,manager";
  let count = 0;
  let maxReadsPerPage = 0;
  let pages = 0;
  const readStarted = Date.now();
  while (url) {
    reads = 0;
    const response = await request(emulator, url, { token, headers });
    maxReadsPerPage = Math.max(maxReadsPerPage, reads);
    count += response.body.value.length;
    url = response.body["@odata.nextLink"];
    pages++;
  }
  const readMs = Date.now() - readStarted;
  t.is(count, 100_000);
  t.is(pages, Math.ceil(100_000 / 999));
  t.true(maxReadsPerPage <= 999 + 1, `a page read ${maxReadsPerPage} records`);
  t.log(
    `seed ${seeded} ms, delta read ${readMs} ms (${Math.round(100_000 / (readMs / 1000))} users/s) — indicative only`,
  );
});

test("delta links older than Graph's 7-day lifetime for directory objects get 410", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 5, seed: 2 } });
  t.teardown(() => emulator.close());
  const round = await deltaRound(emulator, token, "/v1.0/users/delta");
  const raw = new URL(round.deltaLink).searchParams.get("$deltatoken")!;
  // The tokens are opaque to clients; the test knows they are base64url JSON and back-dates one.
  const decoded = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  const age = (days: number) =>
    Buffer.from(JSON.stringify({ ...decoded, issuedAt: Date.now() - days * 86_400_000 })).toString("base64url");
  t.is((await request(emulator, `/v1.0/users/delta?$deltatoken=${age(6.9)}`, { token })).status, 200);
  t.is((await request(emulator, `/v1.0/users/delta?$deltatoken=${age(7.1)}`, { token })).status, 410);
});

test("Prefer: return=minimal returns only the properties that changed (whole objects for hires)", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 30, seed: 12 } });
  t.teardown(() => emulator.close());
  const select = "/v1.0/users/delta?$select=id,displayName,department,jobTitle,manager";
  const initial = await deltaRound(emulator, token, select);
  const records = emulator.control.tenant.records;
  const [titled, moved, both] = [records[20]!.data.id, records[21]!.data.id, records[22]!.data.id];
  emulator.control.change(titled, { jobTitle: "Principal Engineer" });
  emulator.control.change(moved, { managerId: records[1]!.data.id });
  emulator.control.change(both, { department: "Legal" });
  emulator.control.change(both, { jobTitle: "Legal Counsel" });
  // Mailbox settings live in Exchange, not Entra: not a directory change, so not in delta.
  emulator.control.change(records[23]!.data.id, { mailbox: null });
  // Setting a value to what it already is changes nothing.
  emulator.control.change(records[24]!.data.id, { department: records[24]!.data.department });
  const hire = emulator.control.hire({ department: "IT", jobTitle: "IT Manager" });

  const minimal = await request(emulator, initial.deltaLink, { token, headers: { prefer: "return=minimal" } });
  t.is(minimal.headers["preference-applied"], "return=minimal");
  const byId = new Map<string, any>(minimal.body.value.map((item: { id: string }) => [item.id, item]));
  t.is(byId.size, 4);
  t.deepEqual(byId.get(titled), { jobTitle: "Principal Engineer", id: titled });
  t.deepEqual(byId.get(moved), {
    id: moved,
    "manager@delta": [{ "@odata.type": "#microsoft.graph.user", id: records[1]!.data.id }],
  });
  t.deepEqual(byId.get(both), { department: "Legal", jobTitle: "Legal Counsel", id: both });
  t.is(byId.get(hire.id).displayName, hire.displayName);
  t.is(byId.get(hire.id).department, "IT");

  const full = await request(emulator, initial.deltaLink, { token });
  const fullTitled = full.body.value.find((item: { id: string }) => item.id === titled);
  t.deepEqual(Object.keys(fullTitled).sort(), ["department", "displayName", "id", "jobTitle", "manager@delta"]);
});
