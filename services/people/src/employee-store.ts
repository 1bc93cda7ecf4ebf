// The SQL behind the directory: employees in and out, kept apart from the service so the rules stay readable.
import type { EntityManager } from "@mikro-orm/core";
import type { EmployeeState } from "./domain/employee.ts";

export type EmployeeRow = {
  id: string;
  tenant_id: string;
  object_id: string;
  display_name: string | null;
  given_name: string | null;
  surname: string | null;
  mail: string | null;
  upn: string | null;
  department: string | null;
  job_title: string | null;
  office: string | null;
  country: string | null;
  time_zone: string | null;
  preferred_language: string | null;
  manager_id: string | null;
  hire_date: string | null;
  leave_date: string | null;
  enabled: boolean;
  status: "active" | "left";
  source: "graph" | "csv";
  hired_announced: boolean;
  last_seen_run: string | null;
};

export const T = `"people".employees`;

export function sql<R = any>(em: EntityManager, query: string, params: unknown[] = []): Promise<R[]> {
  return (em as unknown as { execute(q: string, p: unknown[]): Promise<R[]> }).execute(query, params);
}

export function placeholders(values: readonly unknown[]): string {
  return values.length === 0 ? "null" : values.map(() => "?").join(", ");
}

export function rowToState(row: EmployeeRow): EmployeeState {
  return {
    tenantId: row.tenant_id,
    objectId: row.object_id,
    displayName: row.display_name,
    givenName: row.given_name,
    surname: row.surname,
    mail: row.mail,
    upn: row.upn,
    department: row.department,
    jobTitle: row.job_title,
    office: row.office,
    country: row.country,
    timeZone: row.time_zone,
    preferredLanguage: row.preferred_language,
    managerId: row.manager_id,
    hireDate: row.hire_date,
    leaveDate: row.leave_date,
    enabled: row.enabled,
    status: row.status,
    source: row.source,
    hiredAnnounced: row.hired_announced,
  };
}

/** Current records of these people, locked for the caller's transaction when `lock` is set. */
export async function loadEmployees(
  em: EntityManager,
  tenantId: string,
  objectIds: readonly string[],
  lock = false,
): Promise<Map<string, EmployeeState>> {
  const found = new Map<string, EmployeeState>();
  if (objectIds.length === 0) return found;
  if (lock) {
    // Row locks cannot cover people not yet stored: a sync and an import creating the same person at once
    // would both "hire" them. A transaction lock per person (taken in a fixed order) serialises them.
    const keys = [...new Set(objectIds)].sort();
    await sql(
      em,
      `select pg_advisory_xact_lock(hashtext('people:' || ? || ':' || k)) from (values ${keys.map(() => "(?)").join(", ")}) v(k) order by k`,
      [tenantId, ...keys],
    );
  }
  const rows = await sql<EmployeeRow>(
    em,
    `select * from ${T} where tenant_id = ? and object_id in (${placeholders(objectIds)})${lock ? " for update" : ""}`,
    [tenantId, ...objectIds],
  );
  for (const row of rows) found.set(row.object_id, rowToState(row));
  return found;
}

export async function findEmployee(em: EntityManager, tenantId: string, objectId: string) {
  const [row] = await sql<EmployeeRow>(em, `select * from ${T} where tenant_id = ? and object_id = ?`, [
    tenantId,
    objectId,
  ]);
  return row;
}

/** Inserts or updates one person; `seenRun` marks them as reported by that sync run. */
export function saveEmployee(em: EntityManager, s: EmployeeState, seenRun?: string): Promise<void> {
  return saveEmployees(em, [s], seenRun);
}

/**
 * Inserts or updates people in one statement (a delta page at a time); `seenRun` as in saveEmployee. The rows go
 * as one JSON parameter: the driver formats parameters into the SQL text, and 22 placeholders a person made a page
 * of 999 a 22,000-value statement to format and parse.
 */
export async function saveEmployees(em: EntityManager, states: readonly EmployeeState[], seenRun?: string) {
  if (states.length === 0) return;
  const rows = states.map((s) => ({
    id: crypto.randomUUID(),
    tenant_id: s.tenantId,
    object_id: s.objectId,
    display_name: s.displayName,
    given_name: s.givenName,
    surname: s.surname,
    mail: s.mail,
    upn: s.upn,
    department: s.department,
    job_title: s.jobTitle,
    office: s.office,
    country: s.country,
    time_zone: s.timeZone,
    preferred_language: s.preferredLanguage,
    manager_id: s.managerId,
    hire_date: s.hireDate,
    leave_date: s.leaveDate,
    enabled: s.enabled,
    status: s.status,
    source: s.source,
    hired_announced: s.hiredAnnounced,
    last_seen_run: seenRun ?? null,
  }));
  await sql(
    em,
    `insert into ${T} (id, tenant_id, object_id, display_name, given_name, surname, mail, upn, department, job_title,
       office, country, time_zone, preferred_language, manager_id, hire_date, leave_date, enabled, status, source,
       hired_announced, last_seen_run, created_at, updated_at)
     select r.*, now(), now() from jsonb_to_recordset(?::jsonb) as r(id uuid, tenant_id uuid, object_id uuid,
       display_name text, given_name text, surname text, mail text, upn text, department text, job_title text,
       office text, country text, time_zone text, preferred_language text, manager_id uuid, hire_date text,
       leave_date text, enabled boolean, status text, source text, hired_announced boolean, last_seen_run uuid)
     on conflict (tenant_id, object_id) do update set
       display_name = excluded.display_name, given_name = excluded.given_name, surname = excluded.surname,
       mail = excluded.mail, upn = excluded.upn, department = excluded.department, job_title = excluded.job_title,
       office = excluded.office, country = excluded.country, time_zone = excluded.time_zone,
       preferred_language = excluded.preferred_language, manager_id = excluded.manager_id,
       hire_date = excluded.hire_date, leave_date = excluded.leave_date, enabled = excluded.enabled,
       status = excluded.status, source = excluded.source, hired_announced = excluded.hired_announced,
       last_seen_run = coalesce(excluded.last_seen_run, ${T}.last_seen_run), updated_at = now()`,
    [JSON.stringify(rows)],
  );
}

/** Marks people as reported by a sync run without changing them (re-sent, unchanged). */
export async function markSeen(em: EntityManager, tenantId: string, objectIds: readonly string[], runId: string) {
  if (objectIds.length === 0) return;
  await sql(em, `update ${T} set last_seen_run = ? where tenant_id = ? and object_id in (${placeholders(objectIds)})`, [
    runId,
    tenantId,
    ...objectIds,
  ]);
}
