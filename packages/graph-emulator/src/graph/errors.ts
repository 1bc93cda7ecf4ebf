// Graph's error envelope: { error: { code, message, innerError: { date, request-id, client-request-id } } }.

export class GraphError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export function errorBody(code: string, message: string, requestId: string, clientRequestId: string): unknown {
  return {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        "request-id": requestId,
        "client-request-id": clientRequestId,
      },
    },
  };
}

export const notFound = (what: string): GraphError =>
  new GraphError(
    404,
    "Request_ResourceNotFound",
    `Resource '${what}' does not exist or one of its queried reference-property objects are not present.`,
  );

export const badRequest = (message: string, code = "Request_BadRequest"): GraphError =>
  new GraphError(400, code, message);
