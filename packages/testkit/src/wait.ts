/**
 * Polls `probe` every 50 ms until `done` holds, and returns that value; after the deadline it fails, naming `what`
 * with the last value and error seen. For state that converges (events delivered, a node discovered): never sleep
 * a fixed time and hope.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (done(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last value ${JSON.stringify(last)}, last error ${String(lastError)}`);
}

/** Waits until every named service is available to `broker` (its nodes discovered over the transporter). */
export async function waitForServices(
  broker: { registry: { getServiceList(options: { onlyAvailable: boolean }): unknown } },
  names: readonly string[],
  timeoutMs = 30_000,
): Promise<void> {
  await waitFor(
    `services ${names.join(", ")}`,
    async () => broker.registry.getServiceList({ onlyAvailable: true }) as Array<{ name: string }>,
    (list) => names.every((name) => list.some((s) => s.name === name)),
    timeoutMs,
  );
}
