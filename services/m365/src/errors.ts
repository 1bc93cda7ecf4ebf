import moleculer from "moleculer";
import type { ClassifiedGraphError } from "./domain/graph-errors.ts";

const { MoleculerError, MoleculerClientError } = moleculer.Errors;

/** The tenant has not granted the app a permission Hearth needs: an admin must consent to it. */
export class M365PermissionMissingError extends MoleculerClientError {
  constructor(message: string, data: { permission: string; operation: string; graphCode: string }) {
    super(message, 403, "M365_PERMISSION_MISSING", data);
  }
}

/** Any other Graph failure; Graph's status and error code are kept. 5xx (and 429) are retryable. */
export class M365GraphError extends MoleculerError {
  constructor(message: string, status: number, graphCode: string) {
    super(message, status >= 400 && status < 600 ? status : 502, "M365_GRAPH_ERROR", { graphCode, status });
    this.retryable = status >= 500 || status === 429;
  }
}

export class M365NotConfiguredError extends MoleculerError {
  constructor() {
    super(
      "The Microsoft 365 tenant connection is not configured (M365_TENANT_ID, M365_CLIENT_ID, M365_CLIENT_SECRET)",
      503,
      "M365_NOT_CONFIGURED",
    );
  }
}

export function toMoleculerError(error: ClassifiedGraphError, operation: string): Error {
  if (error.kind === "permissionMissing") {
    return new M365PermissionMissingError(error.message, {
      permission: error.permission,
      operation,
      graphCode: error.graphCode,
    });
  }
  return new M365GraphError(error.message, error.status, error.graphCode);
}

/** Entra ID refused the app's credentials (wrong secret, unknown client or tenant): an admin must fix the connection. */
export class M365AuthenticationError extends MoleculerError {
  constructor(message: string) {
    super(`Microsoft 365 sign-in failed for the Hearth app: ${message}`, 502, "M365_AUTHENTICATION_FAILED");
    this.retryable = false;
  }
}

/** Graph or Entra could not be reached at all (DNS, TLS, connection refused). */
export class M365UnreachableError extends MoleculerError {
  constructor(message: string) {
    super(`Microsoft 365 could not be reached: ${message}`, 503, "M365_UNREACHABLE");
    this.retryable = true;
  }
}
