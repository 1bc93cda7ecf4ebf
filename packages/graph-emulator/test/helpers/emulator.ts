// Test helpers: an HTTPS client that trusts only the emulator's CA (no NODE_TLS_REJECT_UNAUTHORIZED), app tokens,
// and child processes that get the CA through NODE_EXTRA_CA_CERTS like a real client would.
import { execFile } from "node:child_process";
import https from "node:https";
import { fileURLToPath } from "node:url";
import { type GraphEmulator, type GraphEmulatorOptions, startGraphEmulator } from "../../src/index.ts";

export type HttpResult = {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
};

export function request(
  emulator: GraphEmulator,
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | object; token?: string } = {},
): Promise<HttpResult> {
  const target = new URL(url, emulator.url);
  const body =
    options.body === undefined
      ? undefined
      : typeof options.body === "string"
        ? options.body
        : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (body !== undefined && typeof options.body === "object" && !headers["content-type"])
    headers["content-type"] = "application/json";
  return new Promise((resolve, reject) => {
    const outgoing = https.request(
      target,
      { method: options.method ?? "GET", headers, ca: emulator.caPem },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: parsed, text });
        });
      },
    );
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

export async function appToken(emulator: GraphEmulator, clientId?: string): Promise<string> {
  const app = emulator.control.app(clientId);
  const response = await request(emulator, `/${emulator.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: app.clientId,
      client_secret: app.clientSecret,
      scope: "https://graph.microsoft.com/.default",
    }).toString(),
  });
  if (response.status !== 200) throw new Error(`token request failed: ${response.text}`);
  return response.body.access_token;
}

export async function startForTest(
  options: Partial<GraphEmulatorOptions> = {},
): Promise<{ emulator: GraphEmulator; token: string }> {
  const emulator = await startGraphEmulator({ tenant: { users: 60, seed: 42 }, throttling: false, ...options });
  return { emulator, token: await appToken(emulator) };
}

/** Runs a fixture script (test/fixtures/<name>) in a fresh node with NODE_EXTRA_CA_CERTS; resolves its JSON stdout. */
export function runFixture(name: string, emulator: GraphEmulator, env: Record<string, string> = {}): Promise<any> {
  const script = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  const app = emulator.control.app();
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script],
      {
        env: {
          ...process.env,
          NODE_EXTRA_CA_CERTS: emulator.caCertPath,
          NODE_TLS_REJECT_UNAUTHORIZED: "",
          EMULATOR_URL: emulator.url,
          TENANT_ID: emulator.tenantId,
          CLIENT_ID: app.clientId,
          CLIENT_SECRET: app.clientSecret,
          ...env,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${name} failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split("\n").at(-1)!));
      },
    );
  });
}
