import path from "node:path";
import { createMessagingEntities, type ServiceDatabaseWithMessaging } from "@hearth/platform";
import {
  Answer,
  AnswerBuffer,
  Invitation,
  JobLease,
  NewHire,
  Programme,
  Question,
  ResultsView,
  Wave,
  WaveAction,
} from "./entities/pulse.entity.ts";

const messaging = createMessagingEntities();

export const database: ServiceDatabaseWithMessaging = {
  schema: "pulse",
  entities: [
    Programme,
    Question,
    Wave,
    Invitation,
    Answer,
    AnswerBuffer,
    WaveAction,
    NewHire,
    ResultsView,
    JobLease,
    messaging.OutboxMessage,
    messaging.InboxMessage,
    messaging.DeadLetter,
  ],
  migrationsDir: path.join(import.meta.dirname, "migrations"),
  messaging,
};
