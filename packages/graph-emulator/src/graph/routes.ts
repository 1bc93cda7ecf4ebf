// Every Graph route the emulator serves, one module per resource area. Order matters where patterns overlap:
// /users/delta before /users/{id}. New areas (events, mail, Teams) add their module here.
import { eventRoutes } from "./events.ts";
import { mailboxSettingsRoutes } from "./mailbox-settings.ts";
import { teamRoutes } from "./teams.ts";
import { teamworkRoutes } from "./teamwork.ts";
import type { GraphRoute } from "./types.ts";
import { userDeltaRoutes } from "./user-delta.ts";
import { userRoutes } from "./users.ts";

export const graphRoutes: readonly GraphRoute[] = [
  ...userDeltaRoutes,
  ...mailboxSettingsRoutes,
  ...teamworkRoutes,
  ...eventRoutes,
  ...teamRoutes,
  ...userRoutes,
];
