import type { Access, Role } from "@hearth/contracts";
import type moleculer from "moleculer";
import { ForbiddenError, UnauthorizedError } from "./errors.ts";

export type Caller = {
  tenantId: string;
  objectId: string;
  roles: Role[];
  name?: string;
  upn?: string;
};

/** What every request carries in ctx.meta. `caller` is set by the gateway; services acting on their own omit it. */
export type HearthMeta = {
  caller?: Caller;
  /** Set by the gateway: the request came from outside, so `internal` actions are off limits. */
  viaGateway?: boolean;
  $statusCode?: number;
  $location?: string;
  $responseHeaders?: Record<string, string>;
};

export type HearthContext<P = unknown> = moleculer.Context<P, HearthMeta>;

export function hasAnyRole(caller: Caller | undefined, roles: readonly Role[]): boolean {
  return !!caller && caller.roles.some((r) => roles.includes(r));
}

/**
 * Checks the role half of "role and object" on the node that runs the action, whoever called it.
 * Object-level checks (is this your journey?) stay in the handlers, which know the object.
 */
export function AccessMiddleware(): moleculer.Middleware {
  return {
    name: "HearthAccess",
    localAction(handler: moleculer.ActionHandler, action: moleculer.ActionSchema & { access?: Access }) {
      const access = action.access;
      if (!access) return handler;
      return function checkAccess(this: moleculer.Service, ctx: HearthContext) {
        const { caller, viaGateway } = ctx.meta;
        if (access === "internal") {
          if (viaGateway) return Promise.reject(new ForbiddenError("This action is not available over HTTP"));
          return handler.call(this, ctx);
        }
        // A service acting on its own (a job, an event handler) has no caller and is trusted; a request from
        // outside always has one.
        if (!caller) {
          if (viaGateway) return Promise.reject(new UnauthorizedError());
          return handler.call(this, ctx);
        }
        if (!hasAnyRole(caller, access.roles)) {
          return Promise.reject(new ForbiddenError(`This needs one of the roles: ${access.roles.join(", ")}`));
        }
        return handler.call(this, ctx);
      } as moleculer.ActionHandler;
    },
  } as moleculer.Middleware;
}
