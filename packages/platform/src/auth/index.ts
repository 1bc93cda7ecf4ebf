export {
  createDevIssuerInMemory,
  DEV_AUDIENCE,
  DEV_CLIENT_ID,
  DEV_TENANT_ID,
  type DevIssuer,
  type DevIssuerOptions,
  demoUserObjectId,
  entraIssuer,
  type JsonWebKeySet,
  loadOrCreateDevIssuer,
  type SignAccessTokenOptions,
} from "./dev-issuer.ts";
export { KeySetUnavailableError, TokenRejectedError, type TokenRejectionReason } from "./errors.ts";
export {
  type Caller,
  createTokenVerifier,
  type Role,
  type TokenVerifier,
  type TokenVerifierOptions,
} from "./token-verifier.ts";
