import path from "node:path";
import { createMessagingEntities, type ServiceDatabaseWithMessaging } from "@hearth/platform";
import {
  BuddyProfile,
  Checkin,
  Journey,
  JourneyTemplate,
  OnboardingSettings,
  Task,
} from "./entities/onboarding.entity.ts";

const messaging = createMessagingEntities();

export const database: ServiceDatabaseWithMessaging = {
  schema: "onboarding",
  entities: [
    JourneyTemplate,
    Journey,
    Task,
    BuddyProfile,
    Checkin,
    OnboardingSettings,
    messaging.OutboxMessage,
    messaging.InboxMessage,
    messaging.DeadLetter,
  ],
  migrationsDir: path.join(import.meta.dirname, "migrations"),
  messaging,
};
