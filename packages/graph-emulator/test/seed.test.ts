import test from "ava";
import { DEFAULT_PERMISSIONS, OFFICES, seedTenant } from "../src/index.ts";

const now = new Date("2026-11-01T00:00:00Z");

test("the same seed gives the same tenant, another seed another one", (t) => {
  const a = seedTenant({ users: 300, seed: 11, now });
  const b = seedTenant({ users: 300, seed: 11, now });
  const c = seedTenant({ users: 300, seed: 12, now });
  t.is(a.tenantId, b.tenantId);
  t.deepEqual(
    a.records.map((record) => record.data),
    b.records.map((record) => record.data),
  );
  t.deepEqual(a.app().clientSecret, b.app().clientSecret);
  t.notDeepEqual(
    a.records.map((record) => record.data.id),
    c.records.map((record) => record.data.id),
  );
  t.deepEqual([...a.app().permissions].sort(), [...DEFAULT_PERMISSIONS].sort());
});

test("an org chart CEO → VPs → managers → staff, with realistic people", (t) => {
  const tenant = seedTenant({ users: 2000, seed: 1, now });
  const records = tenant.records;
  const byId = new Map(records.map((record) => [record.data.id, record]));
  const ceo = records[0]!;
  t.is(ceo.managerId, null);
  t.is(ceo.data.jobTitle, "Chief Executive Officer");
  t.is(records.filter((record) => record.managerId === null).length, 1);
  const depth = (id: string): number => (byId.get(id)!.managerId ? 1 + depth(byId.get(id)!.managerId!) : 0);
  const depths = new Map<number, number>();
  for (const record of records) depths.set(depth(record.data.id), (depths.get(depth(record.data.id)) ?? 0) + 1);
  t.deepEqual([...depths.keys()].sort(), [0, 1, 2, 3]);
  t.is(depths.get(1), 10);

  const upns = new Set(records.map((record) => record.data.userPrincipalName));
  t.is(upns.size, records.length);
  const fraction = (predicate: (record: (typeof records)[number]) => boolean) =>
    records.filter(predicate).length / records.length;
  t.true(fraction((record) => record.data.employeeHireDate! > now.toISOString()) > 0.005, "some pre-boarding hires");
  t.true(fraction((record) => record.data.employeeLeaveDateTime !== null) > 0.01, "some leavers");
  t.true(fraction((record) => !record.data.accountEnabled) > 0.005, "some disabled accounts");
  t.true(fraction((record) => record.mailbox === null) > 0.01, "some without a mailbox");
  t.true(fraction((record) => record.mailbox?.timeZone.includes("/") ?? false) > 0.05, "some IANA time zones");
  t.true(
    fraction((record) => record.mailbox?.timeZone.endsWith("Standard Time") ?? false) > 0.6,
    "mostly Windows time zones",
  );
  for (const record of records.slice(0, 200)) {
    const office = OFFICES.find((candidate) => candidate.name === record.data.officeLocation)!;
    t.is(record.data.usageLocation, office.usageLocation);
    if (record.mailbox) t.true([office.windowsTimeZone, office.ianaTimeZone].includes(record.mailbox.timeZone));
    t.regex(record.data.preferredLanguage!, /^[a-z]{2}-[A-Z]{2}$/);
  }
  t.true(new Set(records.map((record) => record.data.department)).size >= 10);
});

test("tiny tenants still work", (t) => {
  t.is(seedTenant({ users: 0, seed: 1 }).size, 0);
  const three = seedTenant({ users: 3, seed: 1 });
  t.is(three.size, 3);
  t.is(three.records[2]!.managerId, three.records[0]!.data.id);
});
