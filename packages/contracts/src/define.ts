import { z } from "zod";

export const ROLES = ["Employee", "CommunityManager", "HR", "Admin"] as const;
export type Role = (typeof ROLES)[number];

/** Where the gateway mounts every contract's `rest` route. */
export const API_PREFIX = "/api/v1";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export type RestRoute = `${HttpMethod} /${string}`;

/**
 * Who may call an action:
 * - `roles`: a person through the gateway (or a service acting for them) holding one of these app roles;
 * - `"internal"`: only other services (never routed by the gateway; a caller from HTTP is refused).
 */
export type Access = { roles: readonly Role[] } | "internal";

export interface ActionContract<P extends z.ZodType = z.ZodType, R extends z.ZodType = z.ZodType> {
  /** `<service>.<verb>`, camelCase verb, e.g. `people.getEmployee`. */
  readonly name: string;
  readonly summary: string;
  readonly params: P;
  readonly result: R;
  readonly access: Access;
  /** Published through the gateway under /api/v1 when set. */
  readonly rest?: RestRoute;
  /** Safe to run twice: only such actions are retried by callers. */
  readonly idempotent: boolean;
  readonly tags?: readonly string[];
  /** HTTP status of a successful answer (201 for creations). */
  readonly successStatus?: number;
}

export interface EventContract<P extends z.ZodType = z.ZodType> {
  /** Past tense, dot separated, e.g. `employee.hired`. */
  readonly name: string;
  readonly summary: string;
  readonly payload: P;
}

export function defineAction<P extends z.ZodType, R extends z.ZodType>(
  spec: Omit<ActionContract<P, R>, "idempotent"> & { idempotent?: boolean },
): ActionContract<P, R> {
  const [service, verb] = spec.name.split(".");
  if (!service || !verb || spec.name.split(".").length !== 2) {
    throw new Error(`Action name "${spec.name}" must be "<service>.<verb>"`);
  }
  // Reads are safe to repeat; anything else must say so explicitly.
  const idempotent = spec.idempotent ?? spec.rest?.startsWith("GET ") ?? false;
  return Object.freeze({ ...spec, idempotent });
}

export function defineEvent<P extends z.ZodType>(spec: EventContract<P>): EventContract<P> {
  if (!/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/.test(spec.name)) {
    throw new Error(`Event name "${spec.name}" must be lower-case words joined by dots`);
  }
  return Object.freeze(spec);
}

export type ParamsOf<C> = C extends ActionContract<infer P, z.ZodType> ? z.input<P> : never;
export type ResultOf<C> = C extends ActionContract<z.ZodType, infer R> ? z.output<R> : never;
export type PayloadOf<C> = C extends EventContract<infer P> ? z.output<P> : never;

/** Shared building blocks. */
export const ZGuid = z.guid();
export const ZPageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).describe("Page size, at most 200"),
  cursor: z.string().max(512).optional().describe("Opaque cursor from the previous page's nextCursor"),
});
