// The demo seed: a programme with closed waves whose results, heatmap, trend and comments show under the rules.
import test from "ava";
import { startPulse } from "./helpers.ts";

test("npm start shows a programme with results, a heatmap with suppressed cells, a trend and comments", async (t) => {
  const h = await startPulse(t, [], new Set(), true);
  const hr = await h.token("hr@contoso.test", ["HR"]);
  const programmes = await h.http("GET", "/api/v1/pulse/programmes", { token: hr });
  t.is(programmes.status, 200, programmes.text);
  const [programme] = programmes.json.items;
  t.is(programme.waves.length, 3);
  const last = programme.waves[2];
  const results = await h.http("GET", `/api/v1/pulse/waves/${last.id}/results`, { token: hr });
  t.true(results.json.questions.length >= 5, results.text);
  t.true(results.json.responseRate > 50);
  t.true(results.json.drivers.length >= 4);
  const heatmap = await h.http("GET", `/api/v1/pulse/waves/${last.id}/heatmap?dimension=department`, { token: hr });
  t.is(heatmap.json.rows.length, 5);
  t.true(heatmap.json.rows.some((r: any) => r.means.some((m: unknown) => m !== null)));
  const enps = results.json.questions.find((q: any) => q.kind === "enps");
  const trend = await h.http("GET", `/api/v1/pulse/programmes/${programme.id}/trend?questionId=${enps.questionId}`, {
    token: hr,
  });
  t.is(trend.json.points.length, 3);
  t.true(trend.json.points.every((p: any) => typeof p.value === "number"));
  const comments = await h.http("GET", `/api/v1/pulse/waves/${last.id}/comments`, { token: hr });
  t.true(comments.json.comments.length >= 10);
  t.false(JSON.stringify(comments.json).includes("day"));
});
