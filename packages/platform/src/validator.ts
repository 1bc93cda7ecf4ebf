import moleculer from "moleculer";
import type { z } from "zod";
import { type FieldProblem, ValidationFailedError } from "./errors.ts";

export function zodIssuesToFields(error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.map(String).join(".") : "(body)",
    message: issue.message,
    code: issue.code,
  }));
}

/** How `action()` attaches a contract's schema: behind a function, because Moleculer deep-clones schema objects when it merges mixins, and a cloned zod schema no longer works. */
export type ZodParamsCarrier = { zodParams?: () => z.ZodType };

/**
 * Validates actions whose params come from a zod contract. The parsed value (defaults applied, query strings
 * coerced, unknown keys stripped) replaces ctx.params, so handlers only see clean input. Everything else
 * (Moleculer's internal $node actions) keeps fastest-validator.
 */
export class ZodValidator extends moleculer.Validators.Fastest {
  middleware(broker: moleculer.ServiceBroker): any {
    const builtin = super.middleware(broker) as {
      localAction: (h: any, a: any) => any;
      localEvent: (h: any, e: any) => any;
    };
    return {
      name: "Validator",
      localAction(handler: moleculer.ActionHandler, action: moleculer.ActionSchema & ZodParamsCarrier) {
        if (typeof action.zodParams !== "function") return builtin.localAction(handler, action);
        const schema = action.zodParams();
        return function validateWithZod(this: moleculer.Service, ctx: moleculer.Context) {
          const result = schema.safeParse(ctx.params ?? {});
          if (!result.success) return Promise.reject(new ValidationFailedError(zodIssuesToFields(result.error)));
          ctx.params = result.data;
          return handler.call(this, ctx);
        };
      },
      localEvent: builtin.localEvent,
    };
  }
}
