// Are the servers the tests need running? Checked before any test starts, so that a stopped PostgreSQL or NATS
// shows up as one clear message with the command to start it, not as dozens of timed-out tests.
// Dependency-free on purpose (node:net only): it speaks just enough of each protocol to know the server answers.
import { connect } from "node:net";

const PROBE_TIMEOUT_MS = 2000;

const START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";
const START_NATS =
  "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- " +
  "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log";

type Address = { host: string; port: number; source: string };

/** Human-readable problems, one per server that is not usable; empty when everything is ready. */
export async function checkServices(): Promise<string[]> {
  const problems = await Promise.all([checkPostgres(), checkNats()]);
  return problems.filter((problem): problem is string => problem !== undefined);
}

async function checkPostgres(): Promise<string | undefined> {
  const url = parseUrl("DATABASE_TEST_URL", "postgres://postgres@127.0.0.1:5432/postgres");
  if (typeof url === "string") return url;
  const address = addressOf(url, 5432, "DATABASE_TEST_URL");
  const user = decodeURIComponent(url.username) || "postgres";
  const database = decodeURIComponent(url.pathname.slice(1)) || user;
  try {
    await probe(address, startupMessage(user, database), readPostgresReply);
    return undefined;
  } catch (error) {
    return (
      `PostgreSQL is not usable at ${describe(address)}: ${(error as Error).message}\n` +
      `  If it is not running, start it with: ${START_POSTGRES}`
    );
  }
}

async function checkNats(): Promise<string | undefined> {
  const url = parseUrl("NATS_TEST_URL", "nats://127.0.0.1:4222", firstNatsServer);
  if (typeof url === "string") return url;
  const address = addressOf(url, 4222, "NATS_TEST_URL");
  let info: { jetstream?: boolean };
  try {
    info = await probe(address, undefined, readNatsInfo);
  } catch (error) {
    return (
      `NATS is not usable at ${describe(address)}: ${(error as Error).message}\n` +
      `  If it is not running, start it with: ${START_NATS}`
    );
  }
  if (info.jetstream !== true) {
    return (
      `NATS at ${describe(address)} runs without JetStream (-js).\n` +
      `  Stop it and start it with JetStream: ${START_NATS}`
    );
  }
  return undefined;
}

/** The URL in `variable` (or `fallback`), or a problem message when it does not parse. */
function parseUrl(variable: string, fallback: string, normalize = (value: string) => value): URL | string {
  const value = normalize(process.env[variable] ?? fallback);
  try {
    return new URL(value);
  } catch {
    return `${variable} is not a URL: ${JSON.stringify(value)}`;
  }
}

// NATS clients accept a comma-separated list of servers, with or without the nats:// scheme.
function firstNatsServer(servers: string): string {
  const first = servers.split(",")[0].trim();
  return first.includes("://") ? first : `nats://${first}`;
}

function addressOf(url: URL, defaultPort: number, variable: string): Address {
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  const port = url.port ? Number(url.port) : defaultPort;
  const source = process.env[variable] === undefined ? "default" : `from ${variable}`;
  return { host, port, source };
}

function describe(address: Address): string {
  return `${address.host}:${address.port} (${address.source})`;
}

/**
 * Connects, optionally sends `greeting`, and feeds everything received to `read` until it returns a result
 * (or throws). Rejects on connection errors, on a closed connection and after PROBE_TIMEOUT_MS.
 * On success it half-closes and drains instead of resetting the connection, so the server has nothing to log.
 */
function probe<T>(
  address: Address,
  greeting: Buffer | undefined,
  read: (received: Buffer) => T | undefined,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.host, port: address.port });
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, result?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        socket.destroy();
        reject(error);
      } else {
        socket.removeAllListeners("data");
        socket.end();
        socket.resume(); // drain whatever else the server sends until it closes its side
        socket.unref(); // ...without keeping this process alive for it
        resolve(result as T);
      }
    };
    const timer = setTimeout(
      () => finish(new Error(`no answer within ${PROBE_TIMEOUT_MS / 1000} s`)),
      PROBE_TIMEOUT_MS,
    );
    socket.on("connect", () => {
      if (greeting) socket.write(greeting);
    });
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      try {
        const result = read(received);
        if (result !== undefined) finish(undefined, result);
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.on("error", (error: NodeJS.ErrnoException) => finish(new Error(socketErrorText(error))));
    socket.on("close", () => finish(new Error("connection closed before the server answered")));
  });
}

function socketErrorText(error: NodeJS.ErrnoException): string {
  if (error.code === "ECONNREFUSED") return "connection refused (nothing listens there)";
  if (error.code === "ENOTFOUND") return "unknown host name";
  return error.code ?? error.message;
}

// PostgreSQL protocol 3.0 StartupMessage: length, version, then key\0value\0 pairs and a final \0.
function startupMessage(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`);
  const header = Buffer.alloc(8);
  header.writeInt32BE(8 + body.length, 0);
  header.writeInt32BE(196608, 4);
  return Buffer.concat([header, body]);
}

// Walks the server's messages: an ErrorResponse ('E') carries its reason to refuse (no such database, starting
// up, too many clients...); ReadyForQuery ('Z') means it would run a query; a password request means it is up,
// and without the password that is as far as a probe gets.
function readPostgresReply(received: Buffer): true | undefined {
  if (received.length > 0 && !"RE".includes(String.fromCharCode(received[0]))) {
    throw new Error(
      `unexpected reply ${JSON.stringify(received.subarray(0, 20).toString("latin1"))}: is this PostgreSQL?`,
    );
  }
  let offset = 0;
  while (received.length >= offset + 5 && received.length >= offset + 1 + received.readInt32BE(offset + 1)) {
    const kind = String.fromCharCode(received[offset]);
    const end = offset + 1 + received.readInt32BE(offset + 1);
    if (kind === "E") {
      throw new Error(`the server refused: ${postgresErrorMessage(received.subarray(offset + 5, end))}`);
    }
    if (kind === "Z") return true;
    if (kind === "R" && received.readInt32BE(offset + 5) !== 0) return true;
    offset = end;
  }
  return undefined;
}

// An ErrorResponse body is a list of (field code byte, C string) pairs; 'M' is the human message.
function postgresErrorMessage(fields: Buffer): string {
  for (const field of fields.toString("utf8").split("\0")) {
    if (field.startsWith("M")) return field.slice(1);
  }
  return "unknown error";
}

// A NATS server greets every client with one line: INFO {json}\r\n.
function readNatsInfo(received: Buffer): { jetstream?: boolean } | undefined {
  const text = received.toString("utf8");
  const end = text.indexOf("\r\n");
  if (end === -1) return undefined;
  const line = text.slice(0, end);
  if (!line.startsWith("INFO ")) {
    throw new Error(`unexpected greeting ${JSON.stringify(line.slice(0, 40))}: is this NATS?`);
  }
  return JSON.parse(line.slice("INFO ".length));
}
