import { DEV_TENANT_ID } from "@hearth/platform";
import { createTestEnvironment, startBroker } from "@hearth/testkit";
import test from "ava";
import { demoDirectory } from "../src/demo-directory.ts";
import { directoryPageQuery } from "../src/employee-store.ts";
import { createPeopleService } from "../src/people.service.ts";
import { countBy, oid, startPeople } from "./helpers.ts";

const DEMO = demoDirectory(new Date());

test("the demo directory: hr@ sees their own profile with dates; 40 people, seeded once with one hire each", async (t) => {
  const h = await startPeople(t, { seed: true });
  const hr = await h.token("hr@contoso.example", ["HR"]);
  const me = await h.http("GET", "/api/v1/me/profile", { token: hr });
  t.is(me.status, 200);
  t.is(me.json.id, oid("hr@contoso.example"));
  t.is(me.json.department, "People");
  t.regex(me.json.hireDate, /^\d{4}-\d{2}-\d{2}$/);
  const [{ n }] = await h.sql("select count(*)::int as n from people.employees");
  t.is(n, DEMO.length);
  t.true(DEMO.length >= 40);
  const counts = await h.eventCounts();
  t.is(countBy(counts, "employee.hired"), DEMO.length);
  t.true([...counts.values()].every((v) => v === 1));
  const newHire = await h.http("GET", `/api/v1/employees/${oid("new.hire@contoso.example")}`, { token: hr });
  t.true(newHire.json.hireDate > new Date().toISOString().slice(0, 10));
  // A stranger (no record) gets 404 for their profile, not someone else's.
  const stranger = await h.http("GET", "/api/v1/me/profile", { token: await h.token("nobody@contoso.example") });
  t.is(stranger.status, 404);
});

test("list: cursor paging visits everyone once in name order; filters and search narrow it", async (t) => {
  const h = await startPeople(t, { seed: true });
  const token = await h.token("jonas.weber@contoso.example");
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const res = await h.http("GET", `/api/v1/employees?limit=7${cursor ? `&cursor=${cursor}` : ""}`, { token });
    t.is(res.status, 200);
    t.true(res.json.items.length <= 7);
    seen.push(...res.json.items.map((e: { displayName: string }) => e.displayName));
    cursor = res.json.nextCursor;
    pages++;
  } while (cursor && pages < 20);
  t.is(seen.length, DEMO.length);
  t.is(new Set(seen).size, DEMO.length);
  t.deepEqual(
    seen,
    [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  );

  const eng = await h.http("GET", "/api/v1/employees?department=Engineering&office=Berlin&limit=200", { token });
  t.deepEqual(eng.json.items.map((e: { displayName: string }) => e.displayName).sort(), [
    "Greta Schmidt",
    "Jonas Weber",
    "Lena Fischer",
    "Mehmet Yilmaz",
    "Samuel Okafor",
    "Sofia Rossi",
    "Yuki Tanaka",
  ]);
  const search = await h.http("GET", "/api/v1/employees?q=SCHMI", { token });
  t.deepEqual(
    search.json.items.map((e: { mail: string }) => e.mail),
    ["greta.schmidt@contoso.example"],
  );
  const byMail = await h.http("GET", "/api/v1/employees?q=nadia.haddad%40", { token });
  t.is(byMail.json.items.length, 1);
  t.is((await h.http("GET", "/api/v1/employees?q=%25", { token })).json.items.length, 0, "% is not a wildcard");
  const gb = await h.http("GET", "/api/v1/employees?country=gb&limit=200", { token });
  t.true(gb.json.items.length > 0 && gb.json.items.every((e: { country: string }) => e.country === "GB"));

  // An Employee sees the basics only; HR also sees dates.
  t.false("hireDate" in search.json.items[0]);
  const hr = await h.token("hr@contoso.example", ["HR"]);
  const hrView = await h.http("GET", "/api/v1/employees?q=schmidt", { token: hr });
  t.regex(hrView.json.items[0].hireDate, /^\d{4}-/);
  t.is((await h.http("GET", "/api/v1/employees?cursor=garbage", { token })).status, 400);
});

test("a page of a large directory is read off the directory index in its order, not sorted out of the whole tenant", async (t) => {
  const h = await startPeople(t, { seed: true });
  await h.sql(
    `insert into people.employees (tenant_id, object_id, display_name, enabled, status, source, created_at, updated_at)
     select $1, gen_random_uuid(), case when i % 100 = 0 then null else 'Person ' || lpad(i::text, 5, '0') end,
            true, case when i % 10 = 5 then 'left' else 'active' end, 'csv', now(), now()
     from generate_series(1, 5000) i`,
    [DEV_TENANT_ID],
  );
  await h.sql("analyze people.employees");
  const token = await h.token("jonas.weber@contoso.example");
  const first = await h.http("GET", "/api/v1/employees?limit=20", { token });
  const second = await h.http("GET", `/api/v1/employees?limit=20&cursor=${first.json.nextCursor}`, { token });
  // People without a name come first (as ''), then by name.
  t.deepEqual(
    first.json.items.slice(0, 3).map((e: { displayName: string | null }) => e.displayName),
    [null, null, null],
  );
  t.is(second.json.items.length, 20);

  // The plans of the very statements listEmployees runs: an index scan of employees_directory_idx, no sort.
  type PlanNode = { "Node Type": string; "Index Name"?: string; Plans?: PlanNode[] };
  const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];
  const planOf = async (page: Parameters<typeof directoryPageQuery>[1]) => {
    const query = directoryPageQuery(DEV_TENANT_ID, page);
    let n = 0;
    const [row] = await h.sql(`explain (format json) ${query.sql.replace(/\?/g, () => `$${++n}`)}`, query.args);
    return nodes((row["QUERY PLAN"] as Array<{ Plan: PlanNode }>)[0]!.Plan);
  };
  for (const page of [
    { limit: 20 },
    { limit: 20, after: ["Person 02500", "00000000-0000-4000-8000-000000000000"] as const },
    { limit: 50, includeLeft: true },
  ]) {
    const plan = await planOf(page);
    t.true(
      plan.some((node) => node["Node Type"] === "Index Scan" && node["Index Name"] === "employees_directory_idx"),
      JSON.stringify(page),
    );
    t.false(
      plan.some((node) => node["Node Type"].includes("Sort")),
      JSON.stringify(page),
    );
  }
});

test("leavers: hidden from employees (404, 403 for includeLeft), visible to HR", async (t) => {
  const h = await startPeople(t, { seed: true });
  const gone = oid("ben.carter@contoso.example");
  await h.sql("update people.employees set status = 'left', enabled = false where object_id = $1", [gone]);
  const emp = await h.token("jonas.weber@contoso.example");
  const hr = await h.token("hr@contoso.example", ["HR"]);
  t.is((await h.http("GET", `/api/v1/employees/${gone}`, { token: emp })).status, 404);
  t.is((await h.http("GET", "/api/v1/employees?includeLeft=true", { token: emp })).status, 403);
  t.is((await h.http("GET", `/api/v1/employees/${gone}`, { token: hr })).json.status, "left");
  const all = await h.http("GET", "/api/v1/employees?includeLeft=true&limit=200", { token: hr });
  t.is(all.json.items.length, DEMO.length);
  t.is((await h.http("GET", "/api/v1/employees?limit=200", { token: hr })).json.items.length, DEMO.length - 1);
});

test("org chart: manager chain to the top and direct reports", async (t) => {
  const h = await startPeople(t, { seed: true });
  const token = await h.token("lena.fischer@contoso.example");
  const res = await h.http("GET", `/api/v1/employees/${oid("greta.schmidt@contoso.example")}/org`, { token });
  t.is(res.status, 200);
  t.is(res.json.employee.displayName, "Greta Schmidt");
  t.deepEqual(
    res.json.managers.map((m: { displayName: string }) => m.displayName),
    ["Samuel Okafor", "Claire Dubois"],
  );
  t.deepEqual(
    res.json.directReports.map((m: { displayName: string }) => m.displayName),
    ["Jonas Weber", "Lena Fischer", "Mehmet Yilmaz", "Sofia Rossi", "Yuki Tanaka"],
  );
  const top = await h.http("GET", `/api/v1/employees/${oid("ceo@contoso.example")}/org`, { token });
  t.deepEqual(top.json.managers, []);
  t.is(top.json.directReports.length, 7);
  t.is((await h.http("GET", `/api/v1/employees/${crypto.randomUUID()}/org`, { token })).status, 404);
});

test("roles: employees and community managers cannot erase, import or run the sync (403, nothing changes)", async (t) => {
  const h = await startPeople(t, { seed: true });
  const before = await h.eventCounts();
  for (const [upn, roles] of [
    ["jonas.weber@contoso.example", []],
    ["cm@contoso.example", ["CommunityManager"]],
  ] as const) {
    const token = await h.token(upn, [...roles]);
    const target = oid("lena.fischer@contoso.example");
    t.is((await h.http("DELETE", `/api/v1/employees/${target}`, { token })).status, 403);
    t.is(
      (await h.http("POST", "/api/v1/directory/import", { token, body: { csv: "Email\na@b.example" } })).status,
      403,
    );
    t.is((await h.http("POST", "/api/v1/directory/sync", { token, body: {} })).status, 403);
    t.is((await h.http("GET", "/api/v1/directory/sync", { token })).status, 403);
  }
  t.is((await h.http("GET", "/api/v1/employees")).status, 401);
  // Internal actions are not reachable over HTTP at all.
  t.is(
    (await h.http("POST", "/api/v1/people/importCsv", { token: await h.token("hr@contoso.example", ["HR"]) })).status,
    404,
  );
  t.deepEqual(await h.eventCounts(), before);
  const [{ n }] = await h.sql("select count(*)::int as n from people.employees");
  t.is(n, DEMO.length);
});

test("GDPR export: everything about the caller, and nothing that identifies anyone else", async (t) => {
  const h = await startPeople(t, { seed: true });
  const me = "jonas.weber@contoso.example";
  const res = await h.http("GET", "/api/v1/me/export", { token: await h.token(me) });
  t.is(res.status, 200);
  t.is(res.json.profile.id, oid(me));
  t.is(res.json.profile.mail, me);
  t.deepEqual(
    res.json.events.map((e: { event: string }) => e.event),
    ["employee.hired"],
  );
  for (const other of DEMO.filter((p) => p.objectId !== oid(me))) {
    t.false(res.text.includes(other.objectId), `export mentions ${other.profile.mail}'s id`);
    t.false(res.text.includes(other.profile.mail!), `export mentions ${other.profile.mail}`);
  }
});

test("erasure: HR erases someone; nothing identifying remains but the erasure event, emitted once", async (t) => {
  const h = await startPeople(t, { seed: true });
  const target = oid("jonas.weber@contoso.example");
  const hr = await h.token("hr@contoso.example", ["HR"]);
  const res = await h.http("DELETE", `/api/v1/employees/${target}`, { token: hr });
  t.is(res.status, 200);
  t.deepEqual(res.json, { id: target, erased: true });
  t.is((await h.http("DELETE", `/api/v1/employees/${target}`, { token: hr })).status, 404);
  t.is((await h.http("GET", `/api/v1/employees/${target}`, { token: hr })).status, 404);

  // Every table of the schema, as text: the name and mail are gone everywhere; the id only in the erasure event.
  const tables = await h.sql<{ table_name: string }>(
    "select table_name from information_schema.tables where table_schema = 'people' and table_type = 'BASE TABLE'",
  );
  for (const { table_name } of tables) {
    const rows = await h.sql(`select t::text as row from people."${table_name}" t`);
    for (const { row } of rows) {
      t.false(/jonas|weber/i.test(row), `${table_name} still holds the name`);
      if (row.includes(target)) t.regex(row, /employee\.erased/, `${table_name} still holds the id`);
    }
  }
  const erased = await h.sql("select payload from people.outbox where event = 'employee.erased'");
  t.deepEqual(
    erased.map((r) => r.payload),
    [{ tenantId: h.issuer.tenantId, objectId: target }],
  );
  // It goes out through the outbox.
  const deadline = Date.now() + 5000;
  let published = 0;
  while (Date.now() < deadline && published === 0) {
    [{ n: published }] = await h.sql(
      "select count(*)::int as n from people.outbox where event = 'employee.erased' and published_at is not null",
    );
    await new Promise((r) => setTimeout(r, 50));
  }
  t.is(published, 1);
  const export_ = await h.http("GET", "/api/v1/me/export", { token: await h.token("jonas.weber@contoso.example") });
  t.is(export_.json.profile, null);
  // What is left is the erasure ledger entry itself.
  t.deepEqual(
    export_.json.events.map((e: { event: string }) => e.event),
    ["employee.erased"],
  );
});

test("CSV import: bad rows reported by line, field and reason; good rows in; re-import changes nothing", async (t) => {
  const h = await startPeople(t, { seed: true });
  const hr = await h.token("hr@contoso.example", ["HR"]);
  const csv = [
    "Employee ID,First Name,Last Name,Email,Department,Job Title,Office,Country,Manager Email,Hire Date,Termination Date",
    // An existing person, matched by mail: their title changes.
    "E100,Jonas,Weber,Jonas.Weber@contoso.example,Engineering,Staff Engineer,Berlin,DE,greta.schmidt@contoso.example,2021-03-01,",
    "E101,Marie,Curie,marie.curie@contoso.example,Research,Scientist,Paris,FR,marie.boss@contoso.example,2026-01-05,",
    "E102,Pat,Nobody,pat@contoso.example,Research,Intern,Paris,FR,nobody@contoso.example,2026-01-05,",
    "E103,Bad,Date,bad.date@contoso.example,Research,Intern,Paris,FR,,05/01/2026,",
    "E104,Marie,Boss,marie.boss@contoso.example,Research,Head of Research,Paris,FR,ceo@contoso.example,2025-01-05,",
    "E105,No,Mail,,Research,Intern,Paris,FR,,2026-01-05,",
    "E106,Left,Already,left.already@contoso.example,Research,Intern,Paris,FR,,2020-01-05,2021-01-01",
  ].join("\n");
  const res = await h.http("POST", "/api/v1/directory/import", { token: hr, body: { csv } });
  t.is(res.status, 200, res.text);
  t.deepEqual(res.json.rejected, [
    { line: 4, field: "Manager Email", reason: "no employee has this e-mail" },
    { line: 5, field: "Hire Date", reason: "must be a date like 2026-01-31" },
    { line: 7, field: "Email", reason: "is required" },
  ]);
  t.like(res.json, { rows: 7, imported: 4, created: 3, updated: 1, unchanged: 0 });
  const marie = await h.http("GET", "/api/v1/employees?q=curie", { token: hr });
  t.is(marie.json.items[0].source, "csv");
  const boss = await h.http("GET", "/api/v1/employees?q=marie.boss", { token: hr });
  t.is(marie.json.items[0].managerId, boss.json.items[0].id);
  const jonas = await h.http("GET", `/api/v1/employees/${oid("jonas.weber@contoso.example")}`, { token: hr });
  t.is(jonas.json.jobTitle, "Staff Engineer");
  t.is(jonas.json.hireDate, "2021-03-01");

  const events = await h.eventCounts();
  t.is(events.get(`employee.hired ${marie.json.items[0].id}`), 1);
  t.is(events.get(`employee.updated ${oid("jonas.weber@contoso.example")}`), 1);
  // Someone whose termination date has passed is imported as a leaver, never hired.
  const left = await h.sql("select status from people.employees where mail = 'left.already@contoso.example'");
  t.deepEqual(left, [{ status: "left" }]);

  const again = await h.http("POST", "/api/v1/directory/import", { token: hr, body: { csv } });
  t.like(again.json, { imported: 4, created: 0, updated: 0, unchanged: 4 });
  t.deepEqual(await h.eventCounts(), events);
  const [{ n }] = await h.sql("select count(*)::int as n from people.employees");
  t.is(n, DEMO.length + 3);

  // A custom mapping, through the internal (CLI) action.
  const mapped = (await h.broker.call("people.importCsv", {
    csv: "Work Mail,Given,Team\nzed@contoso.example,Zed,Ops\n",
    mapping: { mail: "Work Mail", givenName: "Given", department: "Team" },
  })) as { created: number; rejected: unknown[] };
  t.like(mapped, { created: 1, rejected: [] });
});

test("npm start: the embedded database is seeded on start, once, and the demo users find themselves", async (t) => {
  const env = await createTestEnvironment({ database: "embedded", nats: false, env: { SEED_DEMO: "on" } });
  t.teardown(() => env.cleanup());
  const caller = {
    tenantId: DEV_TENANT_ID,
    objectId: oid("cm@contoso.example"),
    roles: ["Employee", "CommunityManager"],
  };
  for (let start = 0; start < 2; start++) {
    const broker = await startBroker(env.config, [createPeopleService({ scheduler: false })]);
    const me = (await broker.call("people.getMyProfile", {}, { meta: { caller } })) as { jobTitle: string };
    t.is(me.jobTitle, "Community Manager");
    const all = (await broker.call("people.listEmployees", { limit: 200 }, { meta: { caller } })) as {
      items: unknown[];
    };
    t.is(all.items.length, DEMO.length);
    await broker.stop();
  }
});

test("the OpenAPI document describes the people routes", async (t) => {
  const h = await startPeople(t);
  const res = await h.http("GET", "/api/openapi.json");
  t.is(res.status, 200);
  const paths = Object.keys(res.json.paths).join("\n");
  for (const route of [
    "employees",
    "employees/{id}",
    "employees/{id}/org",
    "me/profile",
    "me/export",
    "directory/sync",
    "directory/import",
  ]) {
    t.regex(paths, new RegExp(`/${route.replace(/[{}]/g, "\\$&")}$`, "m"), route);
  }
});
