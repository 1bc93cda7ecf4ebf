import crypto from "node:crypto";

/** Short, lower-case, unique per call: safe in database, stream, subject and namespace names. */
export function uniqueId(prefix = "t"): string {
  return `${prefix}${Date.now().toString(36)}${crypto.randomBytes(4).toString("hex")}`;
}
