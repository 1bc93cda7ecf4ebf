/**
 * Named crash points for fault tests (the failpoint pattern of TiKV and FoundationDB): with
 * HEARTH_FAILPOINTS=relay.after-publish the process dies with SIGKILL exactly there, so a test can prove that
 * a crash at that moment loses nothing, without relying on timing. Unset in every real deployment.
 */
const armed = new Set((process.env.HEARTH_FAILPOINTS ?? "").split(",").filter(Boolean));

export function failpoint(name: "relay.after-publish" | "consumer.after-commit"): void {
  if (armed.has(name)) process.kill(process.pid, "SIGKILL");
}
