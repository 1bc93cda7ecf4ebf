import test from "ava";
import { deltaRound } from "./helpers/delta.ts";
import { request, startForTest } from "./helpers/emulator.ts";

test("the control API over HTTPS: hire, change, remove, restore, expire tokens, permissions, throttling", async (t) => {
  const { emulator, token } = await startForTest({ tenant: { users: 20, seed: 6 } });
  t.teardown(() => emulator.close());
  const tenantInfo = await request(emulator, "/_emulator/tenant");
  t.is(tenantInfo.body.tenantId, emulator.tenantId);
  t.is(tenantInfo.body.users, 20);
  const { clientId } = tenantInfo.body.apps[0];

  const initial = await deltaRound(emulator, token, "/v1.0/users/delta?$select=id,displayName,jobTitle,manager");
  const hired = await request(emulator, "/_emulator/users", {
    method: "POST",
    body: {
      displayName: "Ada Lovelace",
      givenName: "Ada",
      surname: "Lovelace",
      department: "Engineering",
      office: "London",
    },
  });
  t.is(hired.status, 201);
  t.is(hired.body.usageLocation, "GB");
  const managerId = emulator.control.tenant.records[3]!.data.id;
  const changed = await request(emulator, `/_emulator/users/${hired.body.id}`, {
    method: "PATCH",
    body: { jobTitle: "Analyst", managerId },
  });
  t.is(changed.body.jobTitle, "Analyst");
  const leaver = emulator.control.tenant.records[15]!.data.id;
  t.is((await request(emulator, `/_emulator/users/${leaver}?hard=true`, { method: "DELETE" })).status, 204);
  const round = await deltaRound(emulator, token, initial.deltaLink);
  const byId = new Map(round.items.map((item) => [item.id, item]));
  t.is(byId.get(hired.body.id).jobTitle, "Analyst");
  t.is(byId.get(hired.body.id)["manager@delta"][0].id, managerId);
  t.deepEqual(byId.get(leaver)["@removed"], { reason: "deleted" });

  const soft = emulator.control.tenant.records[16]!.data.id;
  t.is((await request(emulator, `/_emulator/users/${soft}`, { method: "DELETE" })).status, 204);
  t.is((await request(emulator, `/v1.0/users/${soft}`, { token })).status, 404);
  t.is((await request(emulator, `/_emulator/users/${soft}/restore`, { method: "POST" })).status, 200);
  t.is((await request(emulator, `/v1.0/users/${soft}`, { token })).status, 200);

  t.is((await request(emulator, "/_emulator/delta-tokens/expire", { method: "POST" })).status, 204);
  t.is((await request(emulator, round.deltaLink, { token })).status, 410);

  const revoked = await request(emulator, `/_emulator/apps/${clientId}/permissions/User.Read.All`, {
    method: "DELETE",
  });
  t.false(revoked.body.permissions.includes("User.Read.All"));
  const granted = await request(emulator, `/_emulator/apps/${clientId}/permissions`, {
    method: "POST",
    body: { permission: "User.Read.All" },
  });
  t.true(granted.body.permissions.includes("User.Read.All"));

  t.is(
    (
      await request(emulator, "/_emulator/throttling", {
        method: "PUT",
        body: { enabled: true, limits: { identity: { limit: 1, windowSeconds: 600 } } },
      })
    ).status,
    204,
  );
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 200);
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 429);
  t.is((await request(emulator, "/_emulator/throttling", { method: "PUT", body: { enabled: false } })).status, 204);
  t.is((await request(emulator, "/v1.0/users?$select=id", { token })).status, 200);

  const bad = await request(emulator, "/_emulator/users/nobody", { method: "PATCH", body: { jobTitle: "x" } });
  t.is(bad.status, 400);
  t.regex(bad.body.error, /does not exist/);
});

test("hire fills in what is not given, consistently with what is", async (t) => {
  const { emulator } = await startForTest({ tenant: { users: 5, seed: 6 } });
  t.teardown(() => emulator.close());
  const ada = emulator.control.hire({
    displayName: "Ada Lovelace",
    userPrincipalName: "ada@contoso.onmicrosoft.com",
    office: "London",
  });
  t.is(ada.givenName, "Ada");
  t.is(ada.surname, "Lovelace");
  t.is(ada.mail, "ada@contoso.onmicrosoft.com");
  t.is(ada.usageLocation, "GB");
  t.is(emulator.control.tenant.find(ada.id)!.mailbox?.locale, "en-GB");
  const noMailbox = emulator.control.hire({ hasMailbox: false });
  t.is(noMailbox.mail, null);
  t.is(emulator.control.tenant.find(noMailbox.id)!.mailbox, null);
});
