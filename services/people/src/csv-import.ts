// HRIS CSV import: rows read and validated by the domain, each good row applied in a transaction of its own.
import type { TImportReport } from "@hearth/contracts";
import type { DatabaseThis } from "@hearth/platform";
import { today } from "./directory-sync.ts";
import { applyProfile } from "./domain/employee.ts";
import { generatedObjectId, type Rejection, readHrisCsv } from "./domain/hris-csv.ts";
import { loadEmployees, saveEmployee, sql, T } from "./employee-store.ts";
import { recordOrHold } from "./mailbox-settings.ts";

export async function importCsv(
  service: DatabaseThis,
  tenantId: string,
  text: string,
  mapping?: Record<string, string>,
): Promise<TImportReport> {
  const { rows, rejected } = readHrisCsv(text, mapping);
  const report: TImportReport = {
    rows: rows.length + rejected.length,
    imported: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    rejected: [],
  };
  const rejections: Rejection[] = [...rejected];

  // Who is already known, by mail and upn (matching) and by id (people a previous import generated).
  const known = await sql<{ object_id: string; mail: string | null; upn: string | null }>(
    service.em(),
    `select object_id, lower(mail) as mail, lower(upn) as upn from ${T} where tenant_id = ?`,
    [tenantId],
  );
  const byAddress = new Map<string, string>();
  const ids = new Set<string>();
  for (const k of known) {
    ids.add(k.object_id);
    if (k.upn) byAddress.set(k.upn, k.object_id);
  }
  for (const k of known) if (k.mail) byAddress.set(k.mail, k.object_id);

  const objectIdOf = new Map<number, string>();
  const fileAddress = new Map<string, string>();
  for (const row of rows) {
    const generated = generatedObjectId(tenantId, row);
    // A generated id already in use is the same HRIS person (whose mail may have changed).
    const id =
      (ids.has(generated) ? generated : undefined) ??
      byAddress.get(row.mail) ??
      (row.upn ? byAddress.get(row.upn) : undefined) ??
      generated;
    objectIdOf.set(row.line, id);
    fileAddress.set(row.mail, id);
  }

  for (const row of rows) {
    const objectId = objectIdOf.get(row.line)!;
    const patch = { ...row.patch };
    if (row.managerMail !== undefined) {
      if (row.managerMail === null) patch.managerId = null;
      else {
        const managerId = fileAddress.get(row.managerMail) ?? byAddress.get(row.managerMail);
        if (!managerId) {
          rejections.push({ line: row.line, field: "Manager Email", reason: "no employee has this e-mail" });
          continue;
        }
        if (managerId === objectId) {
          rejections.push({ line: row.line, field: "Manager Email", reason: "a person cannot be their own manager" });
          continue;
        }
        patch.managerId = managerId;
      }
    }
    try {
      const kind = await service.transaction(async (em) => {
        const current = (await loadEmployees(em, tenantId, [objectId], { lock: true })).get(objectId);
        const outcome = applyProfile(current, objectId, patch, { tenantId, today: today(), source: "csv" });
        if (outcome.next && outcome.kind !== "unchanged") await saveEmployee(em, outcome.next);
        await recordOrHold(service, em, tenantId, outcome.events, current);
        return outcome.kind;
      });
      report.imported++;
      if (kind === "created") report.created++;
      else if (kind === "updated") report.updated++;
      else report.unchanged++;
    } catch (error) {
      rejections.push({ line: row.line, field: "row", reason: (error as Error).message.slice(0, 300) });
    }
  }
  report.rejected = rejections.sort((a, b) => a.line - b.line);
  return report;
}
