// What m365 remembers of each team it creates, by the caller's idempotency key (m365.team_creation), so that a
// retry — after a crash, a timeout or a lost answer — resumes the first creation instead of making a second team.
// Every state change is one conditional SQL statement, so concurrent replicas never both claim one key.
import { createHash } from "node:crypto";

export type TeamCreationState = "posting" | "provisioning" | "succeeded" | "failed";

export type TeamCreationRow = {
  idempotencyKey: string;
  requestHash: string;
  displayName: string;
  state: TeamCreationState;
  attempt: number;
  attemptedAt: Date;
  teamId: string | null;
  operationId: string | null;
  webUrl: string | null;
  error: string | null;
};

export type TeamRequest = {
  displayName: string;
  description?: string;
  ownerIds: string[];
  visibility: "private" | "public";
};

/** The same request gives the same hash whatever the order or case of the owners. */
export function teamRequestHash(team: TeamRequest): string {
  const canonical = JSON.stringify([
    team.displayName,
    team.description ?? null,
    [...new Set(team.ownerIds.map((id) => id.toLowerCase()))].sort(),
    team.visibility,
  ]);
  return createHash("sha256").update(canonical).digest("hex");
}

type Execute = (sql: string, params: unknown[]) => Promise<unknown>;

const COLUMNS = `idempotency_key as "idempotencyKey", request_hash as "requestHash", display_name as "displayName",
  state, attempt, attempted_at as "attemptedAt", team_id as "teamId", operation_id as "operationId",
  web_url as "webUrl", error`;

export type TeamCreations = {
  /** Inserts the key as `posting` (attempt 1); `claimed` false when the key was already there (row: as stored). */
  claim(key: string, requestHash: string, displayName: string): Promise<{ row: TeamCreationRow; claimed: boolean }>;
  get(key: string): Promise<TeamCreationRow | undefined>;
  /** Claims the key again for a new attempt if it is still in `from` at attempt `attempt` (failed, or stale). */
  reclaim(key: string, attempt: number): Promise<TeamCreationRow | undefined>;
  /** Teams accepted the creation of this attempt. */
  accepted(key: string, attempt: number, teamId: string, operationId: string): Promise<void>;
  succeeded(key: string, teamId: string, webUrl: string | null): Promise<void>;
  failed(key: string, attempt: number, error: string): Promise<void>;
  /** The attempt's POST was refused outright (nothing created): the key is forgotten so a retry starts afresh. */
  release(key: string, attempt: number): Promise<void>;
  /** Of these team ids, those another key already created. */
  ownedByOtherKeys(key: string, teamIds: string[]): Promise<Set<string>>;
};

export function teamCreations(execute: Execute, schema: string): TeamCreations {
  const table = `"${schema}".team_creation`;
  const rows = async (sql: string, params: unknown[]) => (await execute(sql, params)) as TeamCreationRow[];
  return {
    async claim(key, requestHash, displayName) {
      const inserted = await rows(
        `insert into ${table} (idempotency_key, request_hash, display_name, state, attempt, attempted_at, updated_at)
         values (?, ?, ?, 'posting', 1, clock_timestamp(), clock_timestamp())
         on conflict (idempotency_key) do nothing returning ${COLUMNS}`,
        [key, requestHash, displayName],
      );
      if (inserted[0]) return { row: inserted[0], claimed: true };
      const row = await this.get(key);
      if (!row) return this.claim(key, requestHash, displayName); // released meanwhile
      return { row, claimed: false };
    },
    async get(key) {
      return (await rows(`select ${COLUMNS} from ${table} where idempotency_key = ?`, [key]))[0];
    },
    async reclaim(key, attempt) {
      const updated = await rows(
        `update ${table} set state = 'posting', attempt = attempt + 1, attempted_at = clock_timestamp(),
           team_id = null, operation_id = null, error = null, updated_at = clock_timestamp()
         where idempotency_key = ? and attempt = ? and state in ('posting', 'failed') returning ${COLUMNS}`,
        [key, attempt],
      );
      return updated[0];
    },
    async accepted(key, attempt, teamId, operationId) {
      await execute(
        `update ${table} set state = 'provisioning', team_id = ?, operation_id = ?, updated_at = clock_timestamp()
         where idempotency_key = ? and attempt = ?`,
        [teamId, operationId, key, attempt],
      );
    },
    async succeeded(key, teamId, webUrl) {
      await execute(
        `update ${table} set state = 'succeeded', team_id = ?, web_url = coalesce(?, web_url), error = null,
           updated_at = clock_timestamp()
         where idempotency_key = ?`,
        [teamId, webUrl, key],
      );
    },
    async failed(key, attempt, error) {
      await execute(
        `update ${table} set state = 'failed', error = ?, updated_at = clock_timestamp()
         where idempotency_key = ? and attempt = ? and state <> 'succeeded'`,
        [error, key, attempt],
      );
    },
    async release(key, attempt) {
      await execute(`delete from ${table} where idempotency_key = ? and attempt = ? and state = 'posting'`, [
        key,
        attempt,
      ]);
    },
    async ownedByOtherKeys(key, teamIds) {
      if (teamIds.length === 0) return new Set();
      const found = (await execute(
        `select team_id as "teamId" from ${table} where idempotency_key <> ? and team_id = any(?::uuid[])`,
        [key, `{${teamIds.join(",")}}`],
      )) as Array<{ teamId: string }>;
      return new Set(found.map((r) => r.teamId.toLowerCase()));
    },
  };
}
