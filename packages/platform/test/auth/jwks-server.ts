import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ExecutionContext } from "ava";
import type { JsonWebKeySet } from "../../src/auth/index.ts";

export type JwksServer = {
  url: string;
  /** Requests received, answered or not. */
  fetches(): number;
  serve(keys: JsonWebKeySet): void;
  /** Accept requests but never answer them, like an endpoint behind a black-holing firewall. */
  hang(): void;
  stop(): Promise<void>;
};

/** A real JWKS endpoint on loopback that counts its fetches and can change keys, hang or go away. */
export async function startJwksServer(t: ExecutionContext, keys: JsonWebKeySet): Promise<JwksServer> {
  let body = JSON.stringify(keys);
  let hanging = false;
  let fetches = 0;
  const server = http.createServer((_request, response) => {
    fetches++;
    if (hanging) return;
    response.writeHead(200, { "content-type": "application/json" });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      // fetch keeps connections alive; close would wait for them.
      server.closeAllConnections();
    });
    return stopped;
  };
  t.teardown(stop);

  return {
    url: `http://127.0.0.1:${port}/discovery/v2.0/keys`,
    fetches: () => fetches,
    serve(next) {
      body = JSON.stringify(next);
      hanging = false;
    },
    hang() {
      hanging = true;
    },
    stop,
  };
}

/** An address where nothing listens: a port we bound and released. */
export async function unusedUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/discovery/v2.0/keys`;
}
