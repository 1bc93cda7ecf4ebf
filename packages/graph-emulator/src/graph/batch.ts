// JSON batching: POST /v1.0/$batch. https://learn.microsoft.com/graph/json-batching
// At most 20 requests; relative URLs without the version; Content-Type required with a body; dependsOn runs a
// request after the ones it names and answers 424 when one of them failed; responses in no particular order (we
// shuffle them so clients cannot rely on order); every sub-request goes through the whole pipeline, so each one is
// authorised and throttled on its own and can come back 429 with its own Retry-After.
import { GraphError } from "./errors.ts";
import type { GraphRequest, GraphResponse } from "./types.ts";

export const MAX_BATCH_REQUESTS = 20;

type BatchStep = {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: unknown;
  dependsOn: string[];
};
type SubResponse = { id: string; status: number; headers: Record<string, string>; body?: unknown };

/** Header names as Graph spells them inside batch responses (the JS SDK only parses a body under "Content-Type"). */
const CANONICAL_HEADERS: Record<string, string> = {
  "content-type": "Content-Type",
  "retry-after": "Retry-After",
  location: "Location",
  "cache-control": "Cache-Control",
};

export async function runBatch(
  request: GraphRequest,
  dispatch: (request: GraphRequest) => Promise<GraphResponse>,
): Promise<GraphResponse> {
  const steps = parseBatch(request.body);
  const results = new Map<string, SubResponse>();
  const pending = new Map(steps.map((step) => [step.id, step]));
  while (pending.size > 0) {
    const ready = [...pending.values()].filter((step) => step.dependsOn.every((id) => results.has(id)));
    if (ready.length === 0)
      throw new GraphError(400, "BadRequest", "The dependsOn graph of the batch contains a cycle.");
    await Promise.all(
      ready.map(async (step) => {
        pending.delete(step.id);
        results.set(step.id, await runStep(step, request, results, dispatch));
      }),
    );
  }
  const responses = shuffle(steps.map((step) => results.get(step.id)!));
  return { status: 200, headers: {}, body: { responses } };
}

async function runStep(
  step: BatchStep,
  outer: GraphRequest,
  results: Map<string, SubResponse>,
  dispatch: (request: GraphRequest) => Promise<GraphResponse>,
): Promise<SubResponse> {
  const failed = step.dependsOn.find((id) => results.get(id)!.status >= 400);
  if (failed !== undefined) {
    return subError(step.id, 424, "FailedDependency", `The request depends on request '${failed}', which failed.`);
  }
  const headers = Object.fromEntries(
    Object.entries(step.headers).map(([name, value]) => [name.toLowerCase(), String(value)]),
  );
  if (step.body !== undefined && !headers["content-type"]) {
    return subError(
      step.id,
      400,
      "BadRequest",
      `Write request id : ${step.id} does not contain Content-Type header or body.`,
    );
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(step.url))
    return subError(step.id, 400, "BadRequest", "Invalid request URL: batch request URLs must be relative.");
  const relative = step.url.startsWith("/") ? step.url : `/${step.url}`;
  const queryStart = relative.indexOf("?");
  const rawPath = queryStart === -1 ? relative : relative.slice(0, queryStart);
  const firstSegment = rawPath.split("/")[1] ?? "";
  if (firstSegment === "$batch")
    return subError(step.id, 400, "BadRequest", "A batch request cannot contain another batch request.");
  if (firstSegment === "v1.0" || firstSegment === "beta") {
    return subError(step.id, 400, "BadRequest", `Resource not found for the segment '${firstSegment}'.`);
  }
  const response = await dispatch({
    method: step.method.toUpperCase(),
    path: rawPath.split("/").map(safeDecode).join("/"),
    query: new URLSearchParams(queryStart === -1 ? "" : relative.slice(queryStart + 1)),
    headers: {
      ...headers,
      authorization: outer.headers.authorization ?? "",
      "client-request-id": headers["client-request-id"] ?? step.id,
    },
    body: step.body,
    requestId: crypto.randomUUID(),
  });
  const subHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (name === "request-id" || name === "client-request-id") continue;
    subHeaders[CANONICAL_HEADERS[name] ?? name] = value;
  }
  return {
    id: step.id,
    status: response.status,
    headers: subHeaders,
    ...(response.body === undefined ? {} : { body: response.body }),
  };
}

function parseBatch(body: unknown): BatchStep[] {
  const requests = (body as { requests?: unknown } | null)?.requests;
  if (!Array.isArray(requests))
    throw new GraphError(400, "BadRequest", "Invalid batch payload format: 'requests' must be an array.");
  if (requests.length === 0)
    throw new GraphError(400, "BadRequest", "Invalid batch payload format: the batch contains no requests.");
  if (requests.length > MAX_BATCH_REQUESTS) {
    throw new GraphError(
      400,
      "BadRequest",
      `Invalid batch payload format: the number of requests exceeds the limit of ${MAX_BATCH_REQUESTS}.`,
    );
  }
  const ids = new Set<string>();
  const steps = requests.map((raw: unknown): BatchStep => {
    const step = raw as Record<string, unknown>;
    if (typeof step?.id !== "string" || step.id === "")
      throw new GraphError(400, "BadRequest", "Invalid batch payload format: every request needs an id.");
    if (ids.has(step.id))
      throw new GraphError(400, "BadRequest", `Invalid batch payload format: duplicate request id '${step.id}'.`);
    ids.add(step.id);
    if (typeof step.method !== "string" || typeof step.url !== "string") {
      throw new GraphError(
        400,
        "BadRequest",
        `Invalid batch payload format: request '${step.id}' needs a method and a url.`,
      );
    }
    const dependsOn = step.dependsOn === undefined ? [] : step.dependsOn;
    if (!Array.isArray(dependsOn) || dependsOn.some((id) => typeof id !== "string")) {
      throw new GraphError(
        400,
        "BadRequest",
        `Invalid batch payload format: dependsOn of request '${step.id}' must be an array of ids.`,
      );
    }
    return {
      id: step.id,
      method: step.method,
      url: step.url,
      headers: (step.headers as Record<string, string> | undefined) ?? {},
      body: step.body,
      dependsOn: dependsOn as string[],
    };
  });
  for (const step of steps) {
    for (const id of step.dependsOn) {
      if (!ids.has(id))
        throw new GraphError(
          400,
          "BadRequest",
          `Invalid batch payload format: request '${step.id}' depends on unknown request '${id}'.`,
        );
    }
  }
  return steps;
}

function subError(id: string, status: number, code: string, message: string): SubResponse {
  return {
    id,
    status,
    headers: { "Content-Type": "application/json" },
    body: {
      error: {
        code,
        message,
        innerError: {
          date: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
          "request-id": crypto.randomUUID(),
          "client-request-id": id,
        },
      },
    },
  };
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
