import { defineEntity, p } from "@mikro-orm/core";

/**
 * One team Hearth asked Teams to create, by the caller's idempotency key: remembered before the POST (state
 * `posting`), with the team and operation ids as soon as Teams accepts it (`provisioning`), then `succeeded` or
 * `failed`. A retry with the same key resumes from here instead of creating a second team (team-creations.ts).
 */
export const TeamCreation = defineEntity({
  name: "TeamCreation",
  tableName: "team_creation",
  properties: {
    idempotencyKey: p.string().length(200).primary(),
    /** SHA-256 of the request (name, description, owners, visibility): the same key with other parameters is refused. */
    requestHash: p.string().length(64),
    displayName: p.string().length(256),
    state: p.string().length(20),
    /** Incremented by every claim (first POST, retry after failure, takeover of a stale attempt). */
    attempt: p.integer(),
    attemptedAt: p.datetime(),
    teamId: p.uuid().nullable(),
    operationId: p.string().length(200).nullable(),
    webUrl: p.string().length(2048).nullable(),
    error: p.text().nullable(),
    updatedAt: p.datetime(),
  },
});
