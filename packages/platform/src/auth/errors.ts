export type TokenRejectionReason =
  | "expired"
  | "not_yet_valid"
  | "bad_audience"
  | "bad_issuer"
  | "bad_tenant"
  | "bad_algorithm"
  | "unknown_key"
  | "bad_signature"
  | "malformed"
  | "missing_claim";

/**
 * The caller's token is not acceptable (answer 401). The message is fixed per check and never quotes the token,
 * and no `cause` is attached because jose's claim errors carry the decoded payload.
 */
export class TokenRejectedError extends Error {
  readonly reason: TokenRejectionReason;

  constructor(reason: TokenRejectionReason, message: string) {
    super(message);
    this.name = "TokenRejectedError";
    this.reason = reason;
  }
}

/**
 * The signing keys could not be fetched and none are cached: not the caller's fault, so not a rejection (answer 503).
 */
export class KeySetUnavailableError extends Error {
  constructor(cause: unknown) {
    super("the token signing keys (JWKS) could not be fetched", { cause });
    this.name = "KeySetUnavailableError";
  }
}
