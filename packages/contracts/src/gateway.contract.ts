import { z } from "zod";
import { defineAction, ROLES } from "./define.ts";

export const ZCaller = z.object({
  tenantId: z.guid(),
  objectId: z.guid(),
  roles: z.array(z.enum(ROLES)),
  name: z.string().optional(),
  upn: z.string().optional(),
});
export type TCaller = z.infer<typeof ZCaller>;

export const whoAmI = defineAction({
  name: "gateway.whoAmI",
  summary: "The signed-in person as Hearth sees them: tenant, object id and app roles",
  rest: "GET /me",
  access: { roles: ROLES },
  params: z.object({}),
  result: ZCaller,
  tags: ["Identity"],
});
