import moleculer from "moleculer";

const { MoleculerClientError, MoleculerRetryableError } = moleculer.Errors;

export type FieldProblem = { field: string; message: string; code?: string };

/**
 * Hearth's errors carry an HTTP status as `code` and a stable `type` string, so the gateway can render one
 * envelope for all of them, whichever node raised them.
 */
export class ValidationFailedError extends MoleculerClientError {
  constructor(fields: FieldProblem[], message = "Some fields are not valid") {
    super(message, 422, "VALIDATION_FAILED", { fields });
  }
}

export class BadRequestError extends MoleculerClientError {
  constructor(message: string, type = "BAD_REQUEST") {
    super(message, 400, type);
  }
}

export class UnauthorizedError extends MoleculerClientError {
  constructor(message = "A valid bearer token is required", type = "UNAUTHORIZED") {
    super(message, 401, type);
  }
}

export class ForbiddenError extends MoleculerClientError {
  constructor(message = "You are not allowed to do this") {
    super(message, 403, "FORBIDDEN");
  }
}

export class NotFoundError extends MoleculerClientError {
  constructor(what: string) {
    super(`${what} was not found`, 404, "NOT_FOUND");
  }
}

export class ConflictError extends MoleculerClientError {
  constructor(message: string, type = "CONFLICT") {
    super(message, 409, type);
  }
}

export class TooManyRequestsError extends MoleculerClientError {
  constructor(retryAfterSeconds: number) {
    super("Too many requests; slow down", 429, "RATE_LIMITED", { retryAfterSeconds });
  }
}

export class UnavailableError extends MoleculerRetryableError {
  constructor(message = "The service is temporarily unavailable", type = "UNAVAILABLE") {
    super(message, 503, type);
  }
}
