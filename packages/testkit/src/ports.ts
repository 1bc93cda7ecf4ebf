import net from "node:net";

// Ports the kernel hands out for outbound connections (Linux's default ip_local_port_range). A port probed free in
// that range can be taken by another test's client socket before our server binds it, so we pick below it.
const EPHEMERAL_START = 32768;
const FIRST = 20000;

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that is free now and outside the ephemeral range, for a server a test starts in another
 * process (or restarts on the same port). Servers in the test's own process should listen on port 0 instead.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = FIRST + Math.floor(Math.random() * (EPHEMERAL_START - FIRST));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port found between ${FIRST} and ${EPHEMERAL_START}`);
}
