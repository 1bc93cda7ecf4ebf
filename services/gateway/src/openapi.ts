import { type ActionContract, API_PREFIX } from "@hearth/contracts";
import { z } from "zod";

type JsonSchema = Record<string, unknown> & { properties?: Record<string, JsonSchema>; required?: string[] };
type Operation = Record<string, unknown>;

const ERROR_RESPONSES: Record<string, string> = {
  "400": "The request is malformed (for example, the body is not JSON)",
  "401": "No valid bearer token",
  "403": "The caller's roles do not allow this",
  "404": "Not found",
  "409": "Conflicts with the current state",
  "413": "The body is larger than the limit",
  "422": "A field is not valid; `error.fields` names each one",
  "429": "Rate limit exceeded for this caller; see Retry-After",
  "503": "A service is unavailable or timed out; retry later",
};

export const ZErrorEnvelope = z.object({
  error: z.object({
    status: z.number().int(),
    code: z.string().describe("Stable machine-readable code, e.g. VALIDATION_FAILED"),
    message: z.string(),
    fields: z.array(z.object({ field: z.string(), message: z.string(), code: z.string().optional() })).optional(),
    requestId: z.string().optional(),
  }),
});

function toJsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const json = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonSchema;
  delete json.$schema;
  return json;
}

/** `GET /people/:id` → { method: "get", path: "/people/{id}", pathParams: ["id"] } */
export function parseRoute(rest: string) {
  const [method, path] = rest.split(" ") as [string, string];
  const pathParams = [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
  return { method: method.toLowerCase(), path: path.replace(/:([A-Za-z0-9_]+)/g, "{$1}"), pathParams };
}

function operationFor(contract: ActionContract): Operation {
  const { method, pathParams } = parseRoute(contract.rest!);
  const params = toJsonSchema(contract.params, "input");
  const properties = params.properties ?? {};
  const required = new Set(params.required ?? []);
  const parameters: Operation[] = pathParams.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: properties[name] ?? { type: "string" },
  }));
  const bodyLess = method === "get" || method === "delete";
  const rest = Object.entries(properties).filter(([name]) => !pathParams.includes(name));
  let requestBody: Operation | undefined;
  if (bodyLess) {
    for (const [name, schema] of rest) {
      parameters.push({
        name,
        in: "query",
        required: required.has(name),
        schema,
        ...(schema.description ? { description: schema.description } : {}),
      });
    }
  } else {
    const body: JsonSchema = {
      ...params,
      properties: Object.fromEntries(rest),
      required: [...required].filter((n) => !pathParams.includes(n)),
    };
    requestBody = { required: true, content: { "application/json": { schema: body } } };
  }
  const status = String(contract.successStatus ?? 200);
  const roles = contract.access === "internal" ? [] : contract.access.roles;
  return {
    operationId: contract.name,
    summary: contract.summary,
    tags: contract.tags ?? [contract.name.split(".")[0]],
    description: `Roles: ${roles.join(", ")}. ${contract.idempotent ? "Safe to retry." : "Not idempotent: do not retry blindly."}`,
    "x-hearth-roles": roles,
    security: [{ bearerAuth: [] }],
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(requestBody ? { requestBody } : {}),
    responses: {
      [status]: {
        description: "Success",
        content: { "application/json": { schema: toJsonSchema(contract.result, "output") } },
      },
      ...Object.fromEntries(
        Object.entries(ERROR_RESPONSES)
          .filter(([code]) => !(bodyLess && (code === "413" || code === "400")))
          .map(([code]) => [code, { $ref: `#/components/responses/E${code}` }]),
      ),
    },
  };
}

const plainJson = (schema: JsonSchema, description: string) => ({
  description,
  content: { "application/json": { schema } },
});

/** The OpenAPI 3.1 document for every published route, built from the contracts the actions validate with. */
export function buildOpenApi(contracts: readonly ActionContract[], serverUrl: string) {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const contract of contracts) {
    if (!contract.rest) continue;
    const { method, path } = parseRoute(contract.rest);
    paths[`${API_PREFIX}${path}`] = { ...paths[`${API_PREFIX}${path}`], [method]: operationFor(contract) };
  }
  const status = { type: "object", properties: { status: { type: "string" } }, required: ["status"] };
  paths["/api/health"] = {
    get: {
      operationId: "health",
      summary: "Liveness: the gateway process answers",
      tags: ["Operations"],
      security: [],
      responses: { "200": plainJson(status, "Alive") },
    },
  };
  const readiness = {
    type: "object",
    properties: {
      status: { type: "string", enum: ["ready", "not-ready"] },
      checks: {
        type: "array",
        items: {
          type: "object",
          properties: { name: { type: "string" }, ok: { type: "boolean" }, detail: { type: "string" } },
          required: ["name", "ok"],
        },
      },
    },
    required: ["status", "checks"],
  };
  paths["/api/ready"] = {
    get: {
      operationId: "ready",
      summary: "Readiness: databases reachable with migrations applied, NATS connected when configured",
      tags: ["Operations"],
      security: [],
      responses: { "200": plainJson(readiness, "Ready"), "503": plainJson(readiness, "Not ready") },
    },
  };
  paths["/api/openapi.json"] = {
    get: {
      operationId: "openapi",
      summary: "This document",
      tags: ["Operations"],
      security: [],
      responses: { "200": plainJson({ type: "object" }, "OpenAPI 3.1 document") },
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Hearth API",
      version: "1.0.0",
      description:
        "Employee community and onboarding on Microsoft 365. Every /api/v1 route needs an Entra ID access token " +
        "for the Hearth API (`Authorization: Bearer …`); app roles decide what each caller may do.",
    },
    servers: [{ url: serverUrl }],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: "Entra ID v2 access token" },
      },
      schemas: { ErrorEnvelope: toJsonSchema(ZErrorEnvelope, "output") },
      responses: Object.fromEntries(
        Object.entries(ERROR_RESPONSES).map(([code, description]) => [
          `E${code}`,
          { description, content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" } } } },
        ]),
      ),
    },
  };
}
