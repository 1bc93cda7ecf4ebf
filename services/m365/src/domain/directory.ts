import { DIRECTORY_CHANGE_FIELDS, type TDirectoryChange, type TDirectoryUser } from "@hearth/contracts";

/** ZDirectoryUser property → Graph property, where the names differ (the manager comes as manager@delta). */
const GRAPH_NAME: Partial<Record<keyof TDirectoryUser, string>> = { country: "usageLocation", managerId: "manager" };

/** Graph properties read by the directory delta: ZDirectoryUser's, in Graph's names (a new one is selected too). */
export const DIRECTORY_SELECT: readonly string[] = ["id", ...DIRECTORY_CHANGE_FIELDS.map((f) => GRAPH_NAME[f] ?? f)];

/** Graph property → ZDirectoryUser property, where the names differ (the manager is read from manager@delta). */
const RENAMED: Record<string, keyof TDirectoryUser> = Object.fromEntries(
  Object.entries(GRAPH_NAME)
    .filter(([hearth]) => hearth !== "managerId")
    .map(([hearth, graph]) => [graph, hearth as keyof TDirectoryUser]),
);

const COPIED = new Set<string>(DIRECTORY_SELECT.filter((name) => name !== "id" && name !== "manager"));

export type GraphDeltaUser = Record<string, unknown> & {
  id: string;
  "@removed"?: { reason?: string };
  "manager@delta"?: Array<{ id: string; "@removed"?: unknown; [key: string]: unknown }>;
};

/**
 * One delta item → one change. Delta sends partial objects for changes, so only the properties present in the
 * item appear in `user` (absent means "unchanged", null means "cleared").
 */
export function toDirectoryChange(item: GraphDeltaUser): TDirectoryChange {
  const removed = item["@removed"];
  if (removed) {
    return { kind: "removed", id: item.id, reason: removed.reason === "deleted" ? "deleted" : "changed" };
  }
  const user: Record<string, unknown> = { id: item.id };
  for (const [key, value] of Object.entries(item)) {
    if (!COPIED.has(key)) continue;
    user[RENAMED[key] ?? key] = value ?? null;
  }
  const managers = item["manager@delta"];
  if (managers) {
    // A manager entry with @removed (or an empty array) means the user no longer has a manager.
    const current = managers.find((m) => !m["@removed"]);
    user.managerId = current ? current.id : null;
  }
  return { kind: "upsert", user: user as Partial<TDirectoryUser> & { id: string } };
}
