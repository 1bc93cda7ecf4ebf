import type { FieldProblem } from "@hearth/platform";

type AnyError = Error & {
  code?: number | string;
  type?: string;
  status?: number;
  data?: unknown;
  retryable?: boolean;
};

export type Envelope = {
  status: number;
  headers: Record<string, string>;
  body: { error: { status: number; code: string; message: string; fields?: FieldProblem[]; requestId?: string } };
};

/** Moleculer says "not found"/"timed out" for a service that is down; to an API client that is a 503. */
const UNAVAILABLE_TYPES = new Set([
  "SERVICE_NOT_FOUND",
  "SERVICE_NOT_AVAILABLE",
  "REQUEST_TIMEOUT",
  "REQUEST_SKIPPED",
  "REQUEST_REJECTED",
  "QUEUE_FULL",
  "CIRCUIT_BREAKER_OPEN",
  "UNAVAILABLE",
]);

function fieldsOf(err: AnyError): FieldProblem[] | undefined {
  const data = err.data as { fields?: FieldProblem[] } | FieldProblem[] | undefined;
  if (Array.isArray(data)) return data.map((d) => ({ field: d.field, message: d.message }));
  return data?.fields;
}

/** Every error, from any node or from moleculer-web itself, becomes one envelope with an honest status. */
export function toEnvelope(err: AnyError, requestId?: string): Envelope {
  const headers: Record<string, string> = {};
  const make = (status: number, code: string, message: string, fields?: FieldProblem[]): Envelope => ({
    status,
    headers,
    body: { error: { status, code, message, ...(fields ? { fields } : {}), ...(requestId ? { requestId } : {}) } },
  });

  // body-parser (inside moleculer-web) reports with `status` and its own `type`.
  if (err.status === 413 || err.type === "entity.too.large")
    return make(413, "PAYLOAD_TOO_LARGE", "The request body is too large");
  if (err.type === "entity.parse.failed") return make(400, "MALFORMED_JSON", "The request body is not valid JSON");
  if (err.status === 415 || err.type === "encoding.unsupported" || err.type === "charset.unsupported") {
    return make(415, "UNSUPPORTED_MEDIA_TYPE", "Send the body as application/json in UTF-8");
  }

  const type = String(err.type ?? "");
  if (type === "RATE_LIMITED" || type === "RATE_LIMIT_EXCEEDED") {
    const retryAfter = (err.data as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds ?? 60;
    headers["Retry-After"] = String(retryAfter);
    return make(429, "RATE_LIMITED", "Too many requests; slow down");
  }
  if (UNAVAILABLE_TYPES.has(type) || err.code === 503 || err.code === 504 || err.name === "RequestTimeoutError") {
    headers["Retry-After"] = "5";
    return make(503, "SERVICE_UNAVAILABLE", "A service needed for this request is unavailable; retry shortly");
  }
  if (type === "VALIDATION_FAILED" || type === "VALIDATION_ERROR" || err.name === "ValidationError") {
    return make(422, "VALIDATION_FAILED", "Some fields are not valid", fieldsOf(err) ?? []);
  }
  if (type === "NO_TOKEN" || type === "INVALID_TOKEN" || type === "UNAUTHORIZED" || err.code === 401) {
    return make(
      401,
      type === "INVALID_TOKEN" ? "INVALID_TOKEN" : "UNAUTHORIZED",
      err.message || "A valid bearer token is required",
    );
  }
  const status = typeof err.code === "number" ? err.code : 500;
  if (status >= 400 && status < 500) {
    const code = type || (status === 404 ? "NOT_FOUND" : "CLIENT_ERROR");
    const message =
      code === "NOT_FOUND" && !err.message.endsWith("was not found") ? "No such route or object" : err.message;
    return make(status, code, message, fieldsOf(err));
  }
  return make(500, "INTERNAL", "Something went wrong on our side; it has been logged");
}
