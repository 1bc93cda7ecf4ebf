import path from "node:path";
import { defineServiceDatabase } from "@hearth/platform";
import { Delivery, NotificationRequest, Preference, Recipient } from "./entities/notification.entity.ts";

export const database = defineServiceDatabase({
  schema: "notifications",
  entities: [NotificationRequest, Delivery, Preference, Recipient],
  migrationsDir: path.join(import.meta.dirname, "migrations"),
});
