import test from "ava";
import { graphScope, loadM365Config } from "../src/config.ts";

test("defaults: Microsoft's authority and Graph, 90 % budgets, no tenant connection", (t) => {
  const config = loadM365Config({});
  t.is(config.connection, undefined);
  t.is(config.authorityHost, "https://login.microsoftonline.com");
  t.is(config.graphUrl, "https://graph.microsoft.com");
  t.is(config.graphScope, "https://graph.microsoft.com/.default");
  t.is(config.shapes.bots.capacity + config.shapes.bots.refillPerSecond, 45);
});

test("the token scope is the Graph resource of the cloud, and the public one for a local emulator", (t) => {
  t.is(graphScope("https://graph.microsoft.us"), "https://graph.microsoft.us/.default");
  t.is(graphScope("https://127.0.0.1:8443"), "https://graph.microsoft.com/.default");
  t.is(graphScope("https://localhost:8443/"), "https://graph.microsoft.com/.default");
  t.is(loadM365Config({ M365_GRAPH_SCOPE: "api://custom/.default" }).graphScope, "api://custom/.default");
});

test("tenant, client and secret go together; limits can be overridden per class", (t) => {
  t.throws(() => loadM365Config({ M365_TENANT_ID: "x" }), { message: /go together/ });
  const config = loadM365Config({
    M365_TENANT_ID: "t",
    M365_CLIENT_ID: "c",
    M365_CLIENT_SECRET: "s",
    M365_AUTHORITY_HOST: "https://127.0.0.1:8443/",
    M365_BUDGET_SHARE: "0.5",
    M365_LIMITS: JSON.stringify({ bots: { limit: 30 } }),
  });
  t.deepEqual(config.connection, { tenantId: "t", clientId: "c", clientSecret: "s" });
  t.is(config.authorityHost, "https://127.0.0.1:8443");
  t.is(config.shapes.bots.capacity + config.shapes.bots.refillPerSecond, 15);
  t.throws(() => loadM365Config({ M365_LIMITS: JSON.stringify({ nope: { limit: 1 } }) }));
});

test("the small Teams limits get send windows, scaled by M365_LIMITS and lowered by M365_WINDOW_SHARE", (t) => {
  const config = loadM365Config({});
  t.deepEqual(config.windows.teamsBulkActivity, { limit: 2, periodMs: 1000 });
  t.is(config.windows.identityRead, undefined);
  const scaled = loadM365Config({
    M365_LIMITS: JSON.stringify({ teamsBulkActivity: { periodSeconds: 0.05 } }),
    M365_WINDOW_SHARE: "0.5",
  });
  t.deepEqual(scaled.windows.teamsBulkActivity, { limit: 2, periodMs: 100 });
  t.throws(() => loadM365Config({ M365_WINDOW_SHARE: "1.5" }), { message: /M365_WINDOW_SHARE/ });
});
