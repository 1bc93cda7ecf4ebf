import { fromChangeRows, toChangeRows, ZDirectoryChange, ZDirectoryChangeRow } from "@hearth/contracts";
import test from "ava";
import fc from "fast-check";
import {
  backoffMs,
  buildBatchBody,
  chunk,
  MAX_BATCH_REQUESTS,
  retryAfterMs,
  type SubRequest,
  sortBatchResponses,
} from "../src/domain/batch.ts";
import { toDirectoryChange } from "../src/domain/directory.ts";
import { classifyGraphError } from "../src/domain/graph-errors.ts";
import { bucketShape, chargeFor, LIMIT_CLASSES, PUBLISHED_LIMITS, sendWindow } from "../src/domain/limit-classes.ts";
import { toIanaTimeZone } from "../src/domain/time-zones.ts";

const ID = "0b7f3a52-6f1e-4f0c-9d55-2b1c4a0e9d11";
const MANAGER = "5a1d2c3b-0e9f-4a8b-9c7d-6e5f4a3b2c1d";

test("a full delta item becomes an upsert with every field, usageLocation as country, and its manager", (t) => {
  const change = toDirectoryChange({
    id: ID,
    displayName: "Ada Lovelace",
    givenName: "Ada",
    surname: "Lovelace",
    mail: "ada@contoso.com",
    userPrincipalName: "ada@contoso.com",
    department: "Engineering",
    jobTitle: "Engineer",
    officeLocation: "London",
    usageLocation: "GB",
    preferredLanguage: "en-GB",
    accountEnabled: true,
    employeeHireDate: "2026-01-05T00:00:00Z",
    employeeLeaveDateTime: null,
    "manager@delta": [{ "@odata.type": "#microsoft.graph.user", id: MANAGER }],
  });
  t.deepEqual(change, {
    kind: "upsert",
    user: {
      id: ID,
      displayName: "Ada Lovelace",
      givenName: "Ada",
      surname: "Lovelace",
      mail: "ada@contoso.com",
      userPrincipalName: "ada@contoso.com",
      department: "Engineering",
      jobTitle: "Engineer",
      officeLocation: "London",
      country: "GB",
      preferredLanguage: "en-GB",
      accountEnabled: true,
      employeeHireDate: "2026-01-05T00:00:00Z",
      employeeLeaveDateTime: null,
      managerId: MANAGER,
    },
  });
  t.true(ZDirectoryChange.safeParse(change).success);
});

test("a partial delta item carries only the properties Graph sent (absent stays absent, null stays null)", (t) => {
  const change = toDirectoryChange({ id: ID, jobTitle: "Lead", officeLocation: null, "@odata.type": "#x" } as never);
  t.deepEqual(change, { kind: "upsert", user: { id: ID, jobTitle: "Lead", officeLocation: null } });
  t.false("managerId" in (change as { user: object }).user, "manager not reported means unchanged");
});

test("a removed manager gives managerId null; a removed user gives its reason", (t) => {
  t.deepEqual(toDirectoryChange({ id: ID, "manager@delta": [{ id: MANAGER, "@removed": { reason: "deleted" } }] }), {
    kind: "upsert",
    user: { id: ID, managerId: null },
  });
  t.deepEqual(toDirectoryChange({ id: ID, "@removed": { reason: "changed" } }), {
    kind: "removed",
    id: ID,
    reason: "changed",
  });
  t.deepEqual(toDirectoryChange({ id: ID, "@removed": { reason: "deleted" } }), {
    kind: "removed",
    id: ID,
    reason: "deleted",
  });
});

test("every mapped delta item satisfies the contract", (t) => {
  const value = fc.option(fc.string({ maxLength: 20 }), { nil: null });
  // fc.assert throws with the shrunk counterexample when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.record(
          {
            displayName: value,
            department: value,
            usageLocation: value,
            accountEnabled: fc.option(fc.boolean(), { nil: null }),
            unrelated: fc.string(),
            "manager@delta": fc.array(fc.record({ id: fc.constant(MANAGER) }), { maxLength: 1 }),
          },
          { requiredKeys: [] },
        ),
        fc.boolean(),
        (fields, removed) => {
          const item = removed ? { id: ID, "@removed": { reason: "deleted" } } : { id: ID, ...fields };
          const change = toDirectoryChange(item as never);
          return ZDirectoryChange.safeParse(change).success && !("unrelated" in ((change as any).user ?? {}));
        },
      ),
    ),
  );
});

test("a $batch body: relative URLs, ≤ 20 requests, Content-Type added when there is a body", (t) => {
  const body = buildBatchBody([
    { id: "1", method: "GET", url: `/users/${ID}/mailboxSettings` },
    { id: "2", method: "POST", url: `/users/${ID}/sendMail`, body: { message: {} } },
  ]);
  t.deepEqual(body.requests, [
    { id: "1", method: "GET", url: `/users/${ID}/mailboxSettings` },
    {
      id: "2",
      method: "POST",
      url: `/users/${ID}/sendMail`,
      body: { message: {} },
      headers: { "Content-Type": "application/json" },
    },
  ]);
  const many: SubRequest[] = Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: "GET", url: "/users" }));
  t.throws(() => buildBatchBody(many), { message: /1 to 20/ });
  t.throws(() => buildBatchBody([{ id: "1", method: "GET", url: "/v1.0/users" }]), { message: /without version/ });
  t.throws(() => buildBatchBody([{ id: "1", method: "GET", url: "https://graph.microsoft.com/v1.0/users" }]));
  t.throws(() =>
    buildBatchBody([
      { id: "1", method: "GET", url: "/users" },
      { id: "1", method: "GET", url: "/users" },
    ]),
  );
});

test("chunking keeps order and never exceeds 20 per batch", (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer(), { maxLength: 150 }), (items) => {
      const chunks = chunk(items);
      return (
        chunks.every((c) => c.length >= 1 && c.length <= MAX_BATCH_REQUESTS) && chunks.flat().join() === items.join()
      );
    }),
  );
  t.deepEqual(
    chunk(Array.from({ length: 100 }, (_, i) => i)).map((c) => c.length),
    [20, 20, 20, 20, 20],
  );
});

test("batch answers in any order: throttled ones are retried after the largest Retry-After, the rest are final", (t) => {
  const outcome = sortBatchResponses(
    ["1", "2", "3", "4", "5"],
    [
      { id: "4", status: 429, headers: { "Retry-After": "2.128" } },
      { id: "1", status: 200, body: { timeZone: "UTC" } },
      { id: "3", status: 404, body: { error: { code: "MailboxNotEnabledForRESTAPI" } } },
      { id: "2", status: 429, headers: { "retry-after": "5" } },
    ],
    1000,
  );
  t.deepEqual([...outcome.done.keys()].sort(), ["1", "3"]);
  t.deepEqual(outcome.retry, ["2", "4", "5"], "a sub-request missing from the answer is retried too");
  t.is(outcome.retryAfterMs, 5000);
  const noHeader = sortBatchResponses(["1"], [{ id: "1", status: 503 }], 1234);
  t.is(noHeader.retryAfterMs, 1234);
  t.is(sortBatchResponses(["1"], [{ id: "1", status: 200 }], 1234).retryAfterMs, 0);
});

test("Retry-After is read as seconds (fractional too) or as an HTTP date", (t) => {
  t.is(retryAfterMs("2.128"), 2128);
  t.is(retryAfterMs("0"), 0);
  t.is(retryAfterMs(new Date(10_000).toUTCString(), 4000), 6000);
  t.is(retryAfterMs("soon"), undefined);
  t.is(retryAfterMs(null), undefined);
  for (let attempt = 1; attempt < 12; attempt++) {
    const ms = backoffMs(attempt, 1000, 60_000);
    t.true(ms >= 500 * Math.min(2 ** (attempt - 1), 60) && ms <= 60_000);
  }
});

test("Windows time zone names become IANA; IANA names pass; unknown names give null", (t) => {
  t.is(toIanaTimeZone("Pacific Standard Time"), "America/Los_Angeles");
  t.is(toIanaTimeZone("W. Europe Standard Time"), "Europe/Berlin");
  t.is(toIanaTimeZone("Romance Standard Time"), "Europe/Paris");
  t.is(toIanaTimeZone("Tokyo Standard Time"), "Asia/Tokyo");
  t.is(toIanaTimeZone("UTC"), "Etc/UTC");
  t.is(toIanaTimeZone("Europe/Lisbon"), "Europe/Lisbon");
  t.is(toIanaTimeZone("Not A Zone"), null);
  t.is(toIanaTimeZone(null), null);
  t.is(toIanaTimeZone(""), null);
});

test("a missing permission names the permission and the operation; other errors keep Graph's code", (t) => {
  const denied = classifyGraphError("readDirectoryChanges", 403, {
    error: { code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation." },
  });
  t.is(denied.kind, "permissionMissing");
  t.regex(denied.message, /User\.Read\.All/);
  t.regex(denied.message, /readDirectoryChanges/);
  const mailbox = classifyGraphError("readMailboxSettings", 403, { error: { code: "ErrorAccessDenied" } });
  t.regex(mailbox.message, /MailboxSettings\.Read/);
  const other = classifyGraphError("readDirectoryChanges", 400, { error: { code: "BadRequest", message: "nope" } });
  t.deepEqual([other.kind, other.status], ["graph", 400]);
  t.regex(other.message, /BadRequest: nope/);
  t.regex(classifyGraphError("readDirectoryChanges", 502, undefined).message, /HTTP502/);
});

test("requests are charged to the right limit class", (t) => {
  t.deepEqual(chargeFor("GET", "/v1.0/users/delta"), { limitClass: "identityRead", scope: "", cost: 2 });
  t.deepEqual(chargeFor("GET", `/v1.0/users/${ID.toUpperCase()}/mailboxSettings`), {
    limitClass: "outlookMailbox",
    scope: ID,
    cost: 1,
  });
  t.is(chargeFor("POST", "/v1.0/$batch"), undefined);
  t.is(chargeFor("POST", "/v1.0/teamwork/sendActivityNotificationToRecipients")?.limitClass, "teamsBulkActivity");
  t.is(chargeFor("POST", `/v1.0/users/${ID}/teamwork/sendActivityNotification`)?.limitClass, "teamsUserActivity");
  t.is(chargeFor("POST", `/v1.0/users/${ID}/teamwork/installedApps`)?.limitClass, "teamsInstalledApps");
  t.is(chargeFor("POST", "/v1.0/teams")?.limitClass, "teamsCreate");
  t.deepEqual(chargeFor("GET", "/v1.0/teams?$filter=displayName eq 'x'"), {
    limitClass: "teamsOther",
    scope: "",
    cost: 1,
  });
  t.deepEqual(chargeFor("GET", `/v1.0/teams/${ID.toUpperCase()}`), { limitClass: "teamsPerTeam", scope: ID, cost: 1 });
  t.is(chargeFor("POST", `/v1.0/teams/${ID}/members/add`)?.scope, ID);
  t.is(chargeFor("PATCH", `/v1.0/users/${ID}`)?.limitClass, "identityWrite");
});

test("every default bucket stays inside the published limit in any window and at 90 % of its rate", (t) => {
  for (const limitClass of LIMIT_CLASSES) {
    const published = PUBLISHED_LIMITS[limitClass];
    const shape = bucketShape(published);
    const P = published.periodSeconds;
    t.true(shape.capacity >= 1, limitClass);
    t.true(shape.refillPerSecond > 0, limitClass);
    // Over a stretch much longer than the burst, the rate is at most the share.
    t.true(shape.refillPerSecond * P <= published.limit * 0.9 + 1e-9, `${limitClass}: rate`);
    // A half-open window [s, s + P) holds fewer than capacity + rate·P grants (the last refill would land at s + P).
    const inWindow = Math.ceil(shape.capacity + shape.refillPerSecond * P - 1e-9) - 1;
    t.true(inWindow <= published.limit, `${limitClass}: ${inWindow} in one period`);
  }
  // The bulk feed (2 per second): one request of burst, then 1.8 per second.
  t.deepEqual(bucketShape(PUBLISHED_LIMITS.teamsBulkActivity), { capacity: 1, refillPerSecond: 1.8 });
  t.deepEqual(bucketShape(PUBLISHED_LIMITS.teamsBulkActivity, 1), { capacity: 1, refillPerSecond: 2 });
});

test("a capacity-1 bucket at the bucket shape's rate never puts more than the limit in a half-open window", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.double({ min: 0.5, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (limit, share, offset) => {
          const shape = bucketShape({ limit, periodSeconds: 1, per: "app" }, share);
          if (shape.capacity !== 1) return true;
          // A caller that always asks: grants 1/rate apart; count them in [offset, offset + 1).
          const spacing = 1 / shape.refillPerSecond;
          let n = 0;
          for (let k = 0; k * spacing < offset + 1 + spacing; k++) {
            const at = k * spacing;
            if (at >= offset && at < offset + 1) n++;
          }
          return n <= limit;
        },
      ),
    ),
  );
});

test("small per-second limits are kept by a window of sends at the published number; larger ones by their bucket", (t) => {
  t.deepEqual(sendWindow(PUBLISHED_LIMITS.teamsBulkActivity), { limit: 2, periodMs: 1000 });
  t.deepEqual(sendWindow(PUBLISHED_LIMITS.teamsPerTeam), { limit: 4, periodMs: 1000 });
  t.deepEqual(sendWindow(PUBLISHED_LIMITS.teamsBulkActivity, 0.5), { limit: 2, periodMs: 2000 });
  t.is(sendWindow(PUBLISHED_LIMITS.teamsInstalledApps), undefined);
  t.is(sendWindow(PUBLISHED_LIMITS.identityRead), undefined);
  t.is(sendWindow(PUBLISHED_LIMITS.outlookMailbox), undefined);
});

test("directory changes travel as rows: what was reported, null included, comes back as it was; nothing else", (t) => {
  const maybe = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: null });
  const user = fc.record(
    {
      id: fc.uuid({ version: 4 }),
      displayName: maybe(fc.string()),
      givenName: maybe(fc.string()),
      surname: maybe(fc.string()),
      mail: maybe(fc.string()),
      userPrincipalName: maybe(fc.string()),
      department: maybe(fc.string()),
      jobTitle: maybe(fc.string()),
      officeLocation: maybe(fc.string()),
      country: maybe(fc.string({ maxLength: 2 })),
      preferredLanguage: maybe(fc.string()),
      accountEnabled: maybe(fc.boolean()),
      employeeHireDate: maybe(fc.string()),
      employeeLeaveDateTime: maybe(fc.string()),
      managerId: maybe(fc.uuid({ version: 4 })),
    },
    { requiredKeys: ["id"] },
  );
  const change = fc.oneof(
    user.map((u) => ({ kind: "upsert" as const, user: u })),
    fc.record({
      kind: fc.constant("removed" as const),
      id: fc.uuid({ version: 4 }),
      reason: fc.constantFrom("changed" as const, "deleted" as const),
    }),
  );
  fc.assert(
    fc.property(fc.array(change, { maxLength: 20 }), (changes) => {
      const rows = JSON.parse(JSON.stringify(toChangeRows(changes)));
      for (const row of rows) t.true(ZDirectoryChangeRow.safeParse(row).success);
      t.deepEqual(fromChangeRows(rows), changes);
      for (const c of changes) t.true(ZDirectoryChange.safeParse(c).success);
    }),
  );
});
