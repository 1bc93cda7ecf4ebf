import {
  type ActionContract,
  type ActionName,
  type ActionParams,
  type ActionRegistry,
  type ActionResult,
  API_PREFIX,
} from "@hearth/contracts";
import type moleculer from "moleculer";
import type { z } from "zod";
import type { HearthContext } from "./access.ts";

export type ActionHandlerOf<C extends ActionContract, This = unknown> = (
  this: This,
  ctx: HearthContext<z.output<C["params"]>>,
) => Promise<z.input<C["result"]>> | z.input<C["result"]>;

/**
 * Turns a contract and a handler into a Moleculer action: params validated by the contract's zod schema,
 * the role check, retries only when the contract says the action is idempotent. Only contracts with a REST
 * route are "published" (moleculer-web refuses the rest); the others are "public": callable by services only.
 */
export function action<C extends ActionContract, This = any>(contract: C, handler: ActionHandlerOf<C, This>) {
  return {
    name: contract.name.split(".")[1],
    zodParams: () => contract.params,
    access: contract.access,
    visibility: contract.rest ? "published" : "public",
    retryPolicy: { enabled: contract.idempotent },
    handler: contract.successStatus
      ? async function withStatus(this: This, ctx: HearthContext<z.output<C["params"]>>) {
          const result = await handler.call(this, ctx);
          ctx.meta.$statusCode = contract.successStatus;
          const id = (result as { id?: unknown } | undefined)?.id;
          // A creation answers with where the new object lives: POST /notes → /api/v1/notes/<id>.
          if (contract.successStatus === 201 && typeof id === "string" && contract.rest) {
            ctx.meta.$location = `${API_PREFIX}${contract.rest.split(" ")[1]}/${encodeURIComponent(id)}`;
          }
          return result;
        }
      : handler,
  } as unknown as moleculer.ActionSchema;
}

/** Typed `ctx.call` against the contract registry: name, params and result all checked. */
export function call<N extends ActionName>(
  ctx: moleculer.Context,
  name: N,
  params: ActionParams<N>,
  opts?: moleculer.CallingOptions,
): Promise<ActionResult<N>> {
  return ctx.call(name, params, opts) as Promise<ActionResult<N>>;
}

export type { ActionRegistry };
