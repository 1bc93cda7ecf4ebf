import path from "node:path";
import { createMessagingEntities, type ServiceDatabaseWithMessaging } from "@hearth/platform";
import { Employee } from "./entities/employee.entity.ts";
import { SyncRun, SyncState } from "./entities/sync.entity.ts";

const messaging = createMessagingEntities();

export const database: ServiceDatabaseWithMessaging = {
  schema: "people",
  entities: [Employee, SyncState, SyncRun, messaging.OutboxMessage, messaging.InboxMessage, messaging.DeadLetter],
  migrationsDir: path.join(import.meta.dirname, "migrations"),
  messaging,
};
