// Microsoft's own type definitions for the Graph subset we serve (contract/graph-v1.0-subset.json, see PROVENANCE.md).
// The emulator uses them at run time to accept exactly the `$select` names Graph accepts, and tests use
// `checkAgainstContract` to prove that every payload fits the declared types.
import { readFileSync } from "node:fs";

export type ContractProperty = { name: string; type: string; nullable: boolean; collection: boolean };
export type ContractNavigation = { name: string; type: string; collection: boolean };
export type ContractType = {
  kind: "entity" | "complex" | "enum";
  baseType: string | null;
  abstract?: boolean;
  openType?: boolean;
  properties?: ContractProperty[];
  navigationProperties?: ContractNavigation[];
  members?: { name: string; value: number }[];
};
export type Contract = { source: Record<string, string>; types: Record<string, ContractType> };

let cached: Contract | undefined;

export function loadContract(): Contract {
  cached ??= JSON.parse(
    readFileSync(new URL("../contract/graph-v1.0-subset.json", import.meta.url), "utf8"),
  ) as Contract;
  return cached;
}

/** Structural properties of a type including those inherited through `baseType`. */
export function allProperties(typeName: string): Map<string, ContractProperty> {
  const types = loadContract().types;
  const result = new Map<string, ContractProperty>();
  for (let name: string | null = typeName; name; name = types[name]?.baseType ?? null) {
    const type = types[name];
    if (!type) throw new Error(`type ${name} is not in the contract`);
    for (const property of type.properties ?? []) if (!result.has(property.name)) result.set(property.name, property);
  }
  return result;
}

export function allNavigationProperties(typeName: string): Map<string, ContractNavigation> {
  const types = loadContract().types;
  const result = new Map<string, ContractNavigation>();
  for (let name: string | null = typeName; name; name = types[name]?.baseType ?? null) {
    for (const navigation of types[name]?.navigationProperties ?? []) result.set(navigation.name, navigation);
  }
  return result;
}

function derivesFrom(typeName: string, ancestor: string): boolean {
  const types = loadContract().types;
  for (let name: string | null = typeName; name; name = types[name]?.baseType ?? null)
    if (name === ancestor) return true;
  return false;
}

/**
 * Every problem found when checking `value` against the contract type `typeName`, as human-readable paths
 * (empty when it fits). Rules from graph-contract.md: each property declared on the type or a base type (annotations,
 * names with '@', are skipped), JSON type matching the Edm type, enum members valid, collections as arrays,
 * non-nullable properties not null when present, and `id` present on entities.
 */
export function checkAgainstContract(value: unknown, typeName: string, path = "$"): string[] {
  const types = loadContract().types;
  const problems: string[] = [];
  const fullName = typeName.startsWith("Edm.") || typeName.includes(".") ? typeName : `microsoft.graph.${typeName}`;
  if (fullName.startsWith("Edm.")) {
    const problem = checkPrimitive(value, fullName);
    if (problem) problems.push(`${path}: ${problem}`);
    return problems;
  }
  const type = types[fullName];
  if (!type) return [`${path}: type ${fullName} is not in the contract`];
  if (type.kind === "enum") {
    if (typeof value !== "string" || !type.members?.some((member) => member.name === value)) {
      problems.push(`${path}: ${JSON.stringify(value)} is not a member of ${fullName}`);
    }
    return problems;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [`${path}: expected an object of type ${fullName}, got ${JSON.stringify(value)}`];
  }
  const record = value as Record<string, unknown>;
  let actualType = fullName;
  const odataType = record["@odata.type"];
  if (typeof odataType === "string") {
    actualType = odataType.replace(/^#/, "");
    if (!types[actualType]) return [`${path}: @odata.type ${odataType} is not in the contract`];
    if (!derivesFrom(actualType, fullName)) problems.push(`${path}: ${actualType} does not derive from ${fullName}`);
  }
  const properties = allProperties(actualType);
  if (types[actualType]!.kind === "entity" && typeof record.id !== "string") problems.push(`${path}: id missing`);
  for (const [name, propertyValue] of Object.entries(record)) {
    if (name.includes("@")) continue;
    const property = properties.get(name);
    if (!property) {
      // An expanded navigation property ($expand=teamsApp) holds the target entity (or a list of them).
      const navigation = allNavigationProperties(actualType).get(name);
      if (!navigation) {
        problems.push(`${path}.${name}: not declared on ${actualType} or its base types`);
        continue;
      }
      const items = navigation.collection ? (Array.isArray(propertyValue) ? propertyValue : [null]) : [propertyValue];
      items.forEach((item, index) => {
        const where = navigation.collection ? `${path}.${name}[${index}]` : `${path}.${name}`;
        if (item === null && !navigation.collection) return;
        problems.push(...checkAgainstContract(item, navigation.type, where));
      });
      continue;
    }
    if (propertyValue === null) {
      if (!property.nullable || property.collection) problems.push(`${path}.${name}: null but not nullable`);
      continue;
    }
    if (property.collection) {
      if (!Array.isArray(propertyValue)) {
        problems.push(`${path}.${name}: expected an array`);
        continue;
      }
      propertyValue.forEach((item, index) => {
        if (item === null) {
          if (!property.nullable) problems.push(`${path}.${name}[${index}]: null item but not nullable`);
        } else problems.push(...checkAgainstContract(item, property.type, `${path}.${name}[${index}]`));
      });
    } else {
      problems.push(...checkAgainstContract(propertyValue, property.type, `${path}.${name}`));
    }
  }
  return problems;
}

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME_OF_DAY = /^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkPrimitive(value: unknown, edmType: string): string | undefined {
  switch (edmType) {
    case "Edm.String":
    case "Edm.Binary":
      return typeof value === "string" ? undefined : `expected a string, got ${JSON.stringify(value)}`;
    case "Edm.DateTimeOffset":
      return typeof value === "string" && ISO_DATE_TIME.test(value)
        ? undefined
        : `expected an ISO date-time, got ${JSON.stringify(value)}`;
    case "Edm.Date":
      return typeof value === "string" && ISO_DATE.test(value)
        ? undefined
        : `expected a date, got ${JSON.stringify(value)}`;
    case "Edm.TimeOfDay":
      return typeof value === "string" && TIME_OF_DAY.test(value)
        ? undefined
        : `expected a time of day, got ${JSON.stringify(value)}`;
    case "Edm.Guid":
      return typeof value === "string" && GUID.test(value)
        ? undefined
        : `expected a GUID, got ${JSON.stringify(value)}`;
    case "Edm.Duration":
      return typeof value === "string" ? undefined : `expected a duration string, got ${JSON.stringify(value)}`;
    case "Edm.Boolean":
      return typeof value === "boolean" ? undefined : `expected a boolean, got ${JSON.stringify(value)}`;
    case "Edm.Int16":
    case "Edm.Int32":
    case "Edm.Int64":
    case "Edm.Byte":
      return Number.isInteger(value) ? undefined : `expected an integer, got ${JSON.stringify(value)}`;
    case "Edm.Double":
    case "Edm.Single":
    case "Edm.Decimal":
      return typeof value === "number" ? undefined : `expected a number, got ${JSON.stringify(value)}`;
    default:
      return undefined;
  }
}
