// How Graph shapes a user: the default property set when there is no $select, `$select` checked against the
// contract's user type, and the values of properties we do not model (null, [], or Graph's own defaults).
import { allNavigationProperties, allProperties } from "../contract.ts";
import type { UserRecord } from "../tenant/tenant.ts";
import { badRequest } from "./errors.ts";

/** What GET /users and GET /users/{id} return without $select (https://learn.microsoft.com/graph/api/user-get). */
export const DEFAULT_USER_PROPERTIES = [
  "businessPhones",
  "displayName",
  "givenName",
  "jobTitle",
  "mail",
  "mobilePhone",
  "officeLocation",
  "preferredLanguage",
  "surname",
  "userPrincipalName",
  "id",
] as const;

const USER_PROPERTIES = allProperties("microsoft.graph.user");
const USER_NAVIGATION = allNavigationProperties("microsoft.graph.user");
/** Non-nullable properties Graph fills with a default when selected. */
const UNMODELLED_DEFAULTS: Record<string, unknown> = {
  birthday: "0001-01-01T00:00:00Z",
  hireDate: "0001-01-01T00:00:00Z",
  deviceEnrollmentLimit: 5,
};

export type Selection = { properties: string[]; manager: boolean; explicit: boolean };

/**
 * Parses `$select` for the user type. `allowManager`: only users/delta accepts the `manager` navigation property in
 * `$select` (it then reports `manager@delta`).
 */
export function parseUserSelect(raw: string | null, allowManager: boolean): Selection {
  if (raw === null || raw.trim() === "")
    return { properties: [...DEFAULT_USER_PROPERTIES], manager: false, explicit: false };
  const names = raw
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  const properties: string[] = [];
  let manager = false;
  for (const name of names) {
    if (USER_PROPERTIES.has(name)) {
      if (!properties.includes(name)) properties.push(name);
    } else if (name === "manager" && allowManager) manager = true;
    else if (USER_NAVIGATION.has(name)) {
      throw badRequest(
        `Parsing OData Select and Expand failed: Navigation property '${name}' is not supported in $select here; use $expand.`,
      );
    } else {
      throw badRequest(
        `Parsing OData Select and Expand failed: Could not find a property named '${name}' on type 'microsoft.graph.user'.`,
      );
    }
  }
  // Graph always returns the key.
  if (!properties.includes("id")) properties.push("id");
  return { properties, manager, explicit: true };
}

export function selectContext(selection: Selection): string {
  if (!selection.explicit) return "";
  const names = selection.properties.filter((name) => name !== "id");
  if (selection.manager) names.push("manager");
  return names.length === 0 ? "" : `(${names.join(",")})`;
}

export function projectUser(
  record: UserRecord,
  selection: Selection,
  canReadLifecycle: boolean,
): Record<string, unknown> {
  const data = record.data as unknown as Record<string, unknown>;
  const result: Record<string, unknown> = {};
  for (const name of selection.properties) {
    if (name === "employeeLeaveDateTime" && !canReadLifecycle) {
      // Without User-LifeCycleInfo.Read.All Graph leaves the field empty instead of failing the request.
      result[name] = null;
    } else if (name === "deletedDateTime") result[name] = record.deletedDateTime;
    else if (name in data) result[name] = data[name];
    else if (name in UNMODELLED_DEFAULTS) result[name] = UNMODELLED_DEFAULTS[name];
    else result[name] = USER_PROPERTIES.get(name)!.collection ? [] : null;
  }
  return result;
}

export function parseTop(raw: string | null, fallback: number): number {
  if (raw === null) return fallback;
  const top = Number(raw);
  if (!Number.isInteger(top) || top < 1 || top > 999) {
    throw badRequest(`Invalid page size specified: '${raw}'. Must be between 1 and 999 inclusive.`);
  }
  return top;
}
