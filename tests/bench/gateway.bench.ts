// Hearth's gateway (Entra token verification, per-caller rate limit, zod validation, role check) against a bare
// moleculer-web route, both calling the same service in another process over NATS. Goal: ratio ≥ 0.8.
import path from "node:path";
import { loadOrCreateDevIssuer } from "@hearth/platform";
import { createTestEnvironment, freePort, spawnNode } from "@hearth/testkit";
import autocannon from "autocannon";

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function load(url: string, headers: Record<string, string>, seconds: number) {
  const result = await autocannon({ url, headers, connections: 50, duration: seconds, pipelining: 1 });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(
      `${url}: ${result.non2xx} non-2xx and ${result.errors} errors in ${result.requests.total} requests`,
    );
  }
  return { rps: result.requests.average, p99Ms: result.latency.p99 };
}

export async function run(args: string[]) {
  const seconds = Number(args[0] ?? 10);
  const env = await createTestEnvironment({ database: "none" });
  const [hearthPort, barePort] = [await freePort(), await freePort()];
  const fixtures = path.join(import.meta.dirname, "fixtures");
  const nodeEnv = { ...env.env, LOG_LEVEL: "warn", RATE_LIMIT_PER_MINUTE: "100000000" };
  const nodes = [
    spawnNode({
      env: nodeEnv,
      serviceModules: [path.join(fixtures, "bench-echo.service.ts")],
      nodeID: "bench-service",
    }),
    spawnNode({
      env: { ...nodeEnv, PORT: String(hearthPort) },
      serviceModules: [path.join(fixtures, "hearth-gateway.ts")],
      nodeID: "bench-hearth",
    }),
    spawnNode({
      env: { ...nodeEnv, BARE_PORT: String(barePort) },
      serviceModules: [path.join(fixtures, "bare-gateway.ts")],
      nodeID: "bench-bare",
    }),
  ];
  try {
    await Promise.all(nodes.map((n) => n.ready));
    if (env.config.auth.kind !== "development") throw new Error("the benchmark uses the development issuer");
    const issuer = await loadOrCreateDevIssuer({ dir: env.config.auth.keyDir });
    const token = await issuer.signAccessToken({ upn: "bench@contoso.example", roles: ["Employee"] });
    const hearthUrl = `http://127.0.0.1:${hearthPort}/api/v1/bench/echo?n=2`;
    const bareUrl = `http://127.0.0.1:${barePort}/api/bench/echo?n=2`;
    const auth = { authorization: `Bearer ${token}` };
    // Both routes must work before they are measured; the services discover each other over NATS first.
    for (const [url, headers] of [
      [hearthUrl, auth],
      [bareUrl, {}],
    ] as const) {
      const deadline = Date.now() + 15_000;
      while (
        (await fetch(url, { headers })
          .then((r) => r.status)
          .catch(() => 0)) !== 200
      ) {
        if (Date.now() > deadline) throw new Error(`${url} never answered 200`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    console.log(`warm-up ${Math.min(3, seconds)} s each…`);
    await load(hearthUrl, auth, Math.min(3, seconds));
    await load(bareUrl, {}, Math.min(3, seconds));
    // Alternating rounds with medians: on two shared cores one sequential pair swings by ±20 %.
    const rounds = 5;
    const roundSeconds = Math.max(2, Math.round(seconds / 2));
    console.log(`measuring ${rounds} alternating rounds of ${roundSeconds} s each, 50 connections…`);
    const hearthRuns = [];
    const bareRuns = [];
    for (let round = 0; round < rounds; round++) {
      const first = round % 2 === 0;
      if (first) hearthRuns.push(await load(hearthUrl, auth, roundSeconds));
      bareRuns.push(await load(bareUrl, {}, roundSeconds));
      if (!first) hearthRuns.push(await load(hearthUrl, auth, roundSeconds));
      console.log(
        `  round ${round + 1}: hearth ${hearthRuns.at(-1)!.rps.toFixed(0)} req/s, bare ${bareRuns.at(-1)!.rps.toFixed(0)} req/s`,
      );
    }
    const hearth = { rps: median(hearthRuns.map((r) => r.rps)), p99Ms: median(hearthRuns.map((r) => r.p99Ms)) };
    const bare = { rps: median(bareRuns.map((r) => r.rps)), p99Ms: median(bareRuns.map((r) => r.p99Ms)) };
    console.log(`hearth gateway: ${hearth.rps.toFixed(0)} req/s, p99 ${hearth.p99Ms} ms (median of ${rounds})`);
    console.log(`bare route:     ${bare.rps.toFixed(0)} req/s, p99 ${bare.p99Ms} ms (median of ${rounds})`);
    return {
      bench: "gateway",
      hearthRps: Math.round(hearth.rps),
      bareRps: Math.round(bare.rps),
      hearthP99Ms: hearth.p99Ms,
      bareP99Ms: bare.p99Ms,
      ratio: Number((hearth.rps / bare.rps).toFixed(3)),
    };
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await env.cleanup();
  }
}
